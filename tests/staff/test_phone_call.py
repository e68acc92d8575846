"""The hotline in the console (issue 14), through the real HTTP routes with a logged-in staff
session: the agent takes a call, reads the caller the number, the caller approves in the Client
Panel (its server, over HTTP), and the console shows the request verified with its record."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from gateway.config import Settings, replace
from gateway.storage.models import (
    ApprovalChallenge,
    AuditRecord,
    ChangeRequest,
    Conversation,
    TranscriptMessage,
)
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import LiveGateway, live_gateway
from tests.staff.console_http import STAFF_PASSWORD, STAFF_USER, StaffHttp, csrf_of, fresh_code

PANEL_KEY = "panel-key-for-the-phone-tests-0123"
PANEL = {"Authorization": f"Bearer {PANEL_KEY}"}
JAN_PESEL = "44051401359"
BAD_PESEL = "44051401358"  # one digit off: the checksum fails
TRANSFER = "The caller wants example.pl moved to another registrar."
NUMBER = re.compile(r'id="approval-number"[^>]*>(\d+)<')
# No field where anyone could type or read a client's code (the login page's is staff's own).
CODE_FIELD = re.compile(r"<(?:input|textarea|select)[^>]*name=\"[^\"]*(?:code|kod|otp)", re.I)


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(settings, panel={"api_key": PANEL_KEY})
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


@pytest.fixture
async def staff(staff_http: StaffHttp, staff_secret: str, clock: MovableClock) -> StaffHttp:
    response = await staff_http.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))
    assert response.status == 303 and staff_http.session_cookie
    return staff_http


async def take_call(
    staff: StaffHttp,
    stage_one: str,
    intent: str = "domain_transfer",
    text: str = TRANSFER,
    language: str = "pl",
) -> tuple[int, str, str]:
    """Posts the phone form as the agent would; the status, the page it leads to, its URL."""
    form = await staff.page("/staff/phone")
    fields = {"stage_one": stage_one, "intent": intent, "text": text, "language": language}
    async with staff.http.post(
        f"{staff.base}/staff/phone",
        data={"csrf": csrf_of(form), **fields},
        headers={"Origin": staff.base},
        allow_redirects=False,
    ) as response:
        if response.status != 303:
            return response.status, await response.text(), ""
        location = response.headers["Location"]
    return 303, await staff.page(location), location


def number_on(page: str) -> str:
    match = NUMBER.search(page)
    assert match, "no approval number on the page"
    return match.group(1)


async def offers(gateway: LiveGateway, login: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway.url}/api/panel/approvals", params={"login": login}, headers=PANEL
        ) as response,
    ):
        assert response.status == 200
        return (await response.json())["approvals"]  # type: ignore[no-any-return]


async def decide(
    gateway: LiveGateway, challenge: str, body: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway.url}/api/panel/approvals/{challenge}", json=body, headers=PANEL
        ) as response,
    ):
        return response.status, await response.json()


async def rows(gateway: LiveGateway, model: type[Any]) -> list[Any]:
    async with gateway.core.sessions() as session:
        return list((await session.scalars(select(model))).all())


async def test_the_caller_approves_and_the_console_shows_it_verified(
    gateway: LiveGateway, staff: StaffHttp
) -> None:
    form = await staff.page("/staff/phone")
    assert 'name="stage_one"' in form and not CODE_FIELD.search(form)
    assert all(f'value="{name}"' in form for name in gateway.core.policies.change_intents)
    status, page, location = await take_call(staff, "example.pl")
    assert status == 303 and location.startswith("/staff/conversations/")
    number = number_on(page)
    assert 'data-stage="authenticate"' in page and 'id="approval-countdown"' in page
    assert "read the caller the number" in page  # the flash names the ticket
    assert not CODE_FIELD.search(page) and 'action="' + location + '/reply"' not in page

    [offer] = await offers(gateway, "jan.kowalski")
    assert offer["channel"] == "phone" and "number" not in offer
    assert await decide(
        gateway, offer["id"], {"login": "jan.kowalski", "decision": "approve", "number": number}
    ) == (200, {"status": "approved"})

    page = await staff.page(location)
    assert 'data-stage="verified"' in page and 'id="approval-number"' not in page
    assert "badge-verified" in page and f"/requests/{offer['ticket']}/action" in page
    [record] = [r for r in await rows(gateway, AuditRecord) if r.kind == "verification"]
    body = json.loads(record.body)
    assert body["channel"] == "phone" and body["method"] == "panel_approval"
    assert body["client"] == STAFF_USER and body["login"] == "jan.kowalski"
    assert body["requested_by_staff"] == STAFF_USER and record.hash in page
    [conversation] = await rows(gateway, Conversation)
    assert (conversation.channel, conversation.client) == ("phone", STAFF_USER)
    queue = await staff.page()
    assert offer["ticket"] in queue and "<td>phone</td>" in queue


async def test_a_wrong_pesel_checksum_is_refused_and_nothing_is_held(
    gateway: LiveGateway, staff: StaffHttp
) -> None:
    status, page, _ = await take_call(
        staff, BAD_PESEL, text=f"Caller with PESEL {BAD_PESEL} wants example.pl transferred"
    )
    assert status == 422
    assert "checksum" in page and 'id="phone-error"' in page
    assert BAD_PESEL not in page  # neither in the field nor in the words shown again
    assert re.search(r'name="stage_one"[^>]*value=""', page)
    assert 'id="stage-one-masked"' in page
    assert 'value="domain_transfer" selected' in page  # the rest of the form is kept
    assert await rows(gateway, ChangeRequest) == []
    assert await rows(gateway, ApprovalChallenge) == []
    assert [c.stage for c in await rows(gateway, Conversation)] == ["closed"]
    assert BAD_PESEL not in await staff.page()


async def test_a_right_pesel_is_checked_and_never_stored_or_shown_in_clear(
    gateway: LiveGateway, staff: StaffHttp
) -> None:
    status, page, _ = await take_call(
        staff, f"PESEL {JAN_PESEL}", text=f"Caller (PESEL {JAN_PESEL}) wants example.pl moved"
    )
    assert status == 303 and number_on(page)
    assert JAN_PESEL not in page and JAN_PESEL not in await staff.page()
    [offer] = await offers(gateway, "jan.kowalski")
    assert offer["channel"] == "phone"
    stored = [
        *(r.request_text for r in await rows(gateway, ChangeRequest)),
        *(m.text for m in await rows(gateway, TranscriptMessage)),
        *(r.body for r in await rows(gateway, AuditRecord)),
    ]
    assert stored and not any(JAN_PESEL in (text or "") for text in stored)


async def test_an_unknown_service_shows_a_number_nobody_can_approve(
    gateway: LiveGateway, staff: StaffHttp
) -> None:
    """No oracle: the agent cannot tell from the console whether the service is anyone's."""
    status, page, _ = await take_call(staff, "nobody-holds-this.pl", text="Move it away please")
    assert status == 303 and number_on(page).isdigit()
    assert await offers(gateway, "jan.kowalski") == [] and await offers(gateway, "anna.nowak") == []


async def test_a_denied_call_is_shown_denied_by_the_client_with_no_action(
    gateway: LiveGateway, staff: StaffHttp
) -> None:
    _, _, location = await take_call(staff, "example.pl")
    [offer] = await offers(gateway, "jan.kowalski")
    assert await decide(gateway, offer["id"], {"login": "jan.kowalski", "decision": "deny"}) == (
        200,
        {"status": "denied"},
    )
    page = await staff.page(location)
    assert "denied by the client — no action possible" in page
    assert "Denied by the client" in page and 'data-stage="locked"' in page
    assert f"/requests/{offer['ticket']}/action" not in page and "denial record #" in page
    queue = await staff.page()
    row = queue[queue.index(offer["ticket"]) :]
    assert "denied by the client — no action possible" in row and "<td>phone</td>" in row


async def test_the_phone_form_is_for_logged_in_staff_with_its_token(
    gateway: LiveGateway, staff_http: StaffHttp, staff: StaffHttp
) -> None:
    assert (await staff.get("/staff/phone"))[0] == 200
    fields = {"stage_one": "example.pl", "intent": "domain_transfer", "text": TRANSFER}
    forged = await staff.post("/staff/phone", {**fields, "csrf": "forged"})
    assert forged.status == 403
    foreign = await staff.post(
        "/staff/phone",
        {**fields, "csrf": csrf_of(await staff.page("/staff/phone"))},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status == 403
    status, page, _ = await take_call(staff, "example.pl", intent="make_me_admin")
    assert status == 422 and "Choose the request." in page
    status, page, _ = await take_call(staff, "example.pl", language="de")
    assert status == 422 and "language" in page
    assert await rows(gateway, ChangeRequest) == []
    await staff.submit("/staff/logout", "/staff/")
    status, _ = await staff.get("/staff/phone")
    assert status == 303


async def test_an_expired_number_is_no_longer_shown(
    gateway: LiveGateway, staff: StaffHttp, clock: MovableClock
) -> None:
    _, page, location = await take_call(staff, "example.pl")
    number_on(page)
    clock.advance(seconds=301)
    page = await staff.page(location)
    assert 'id="approval-number"' not in page and "No number is pending for this call" in page
    [offer] = await rows(gateway, ApprovalChallenge)
    status, _ = await decide(
        gateway,
        offer.public_id,
        {"login": "jan.kowalski", "decision": "approve", "number": offer.number},
    )
    assert status == 410
