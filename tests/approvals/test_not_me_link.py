"""The registered contact's "I did not ask for this" link (contract section 11): it stops a
verified request staff have not acted on, for the whole of a cooling-off hold, once."""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from email.policy import default

import aiohttp
from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.pipeline.model import RecordAction
from gateway.storage.models import AuditRecord, ChangeRequest, OutboxItem
from tests.approvals.panel import approvals, approve
from tests.chat.conftest import staff_deliveries
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.live import ChatClient, LiveGateway

LINK = re.compile(r"http://\S+/not-me/\S+")
OWNER_CHANGE = "Please change the owner of example.pl to Adam Nowak"


async def verified_with_notice(gateway: LiveGateway, clock: MovableClock) -> tuple[str, str]:
    """An owner change verified on the chat (a day's cooling-off, the holder notified): the
    ticket and the link in the notice to jan@example.com."""
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say(OWNER_CHANGE)
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        code = totp_for(JAN_SECRET).at(clock.now())
        assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        ticket = visitor.status["ticket"]
    finally:
        await visitor.close()
    async with gateway.core.sessions() as session:
        items = (await session.scalars(select(OutboxItem))).all()
    [notice] = [
        message_from_bytes(i.payload, policy=default)
        for i in items
        if "jan@example.com" in i.destination and ticket.encode() in i.payload
    ]
    found = LINK.search(notice.get_content())  # type: ignore[attr-defined]
    assert found, notice.get_content()  # type: ignore[attr-defined]
    link = found.group(0).replace("http://127.0.0.1:8080", gateway.url)
    return ticket, link


async def fetch(method: str, url: str, **kwargs) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as http, http.request(method, url, **kwargs) as answer:
        return answer.status, await answer.text()


async def test_the_link_stops_a_request_on_hold(gateway: LiveGateway, clock: MovableClock) -> None:
    ticket, link = await verified_with_notice(gateway, clock)
    clock.advance(hours=20)  # still within the day's cooling-off
    status, page = await fetch("GET", link)
    assert status == 200 and 'id="stop"' in page and ticket in page
    async with gateway.core.sessions() as session:
        held = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
        assert held is not None and held.status == "forwarded"  # GET changes nothing
    status, page = await fetch("POST", link)
    assert status == 200 and ("stopped" in page or "wstrzymane" in page)
    async with gateway.core.sessions() as session:
        held = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
        assert held is not None
        assert (held.status, held.verification) == ("cancelled", "denied_by_client")
        kinds = list(
            await session.scalars(select(AuditRecord.kind).where(AuditRecord.ticket == ticket))
        )
    assert kinds == ["verification", "denial"]
    # Staff were told on their paths, and can no longer act on it, even after the hold.
    denial = [
        json.loads(i.payload)
        for i in await staff_deliveries(gateway)
        if i.kind == "webhook" and b"denied_by_client" in i.payload
    ]
    assert denial and denial[0]["denied_via"] == "contact_link"
    clock.advance(hours=5)
    outcome = await gateway.core.pipeline.handle(
        RecordAction("anna", held.conversation_id, ticket, "changed the owner")
    )
    assert outcome.error is not None and outcome.record is None
    # One time: the link has nothing left to stop.
    status, page = await fetch("POST", link)
    assert status == 200 and 'id="stop"' not in page and ticket in page
    assert "verified" not in page
    report = await gateway.core.pipeline.handle(
        RecordAction("anna", held.conversation_id, ticket, "changed the owner")
    )
    assert report.error is not None


async def test_a_forged_or_lapsed_link_stops_nothing(
    gateway: LiveGateway, clock: MovableClock
) -> None:
    ticket, link = await verified_with_notice(gateway, clock)
    forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    ticket_part, account, rest = link.rsplit("/", 1)[1].split(".", 2)
    respelled = link.replace(f"{ticket_part}.{account}.", f"{ticket_part}.0{account}.")
    wrongs = (forged, link.replace(ticket, "T-AAAAAA"), gateway.url + "/not-me/garbage", respelled)
    for wrong in wrongs:
        assert (await fetch("POST", wrong))[0] == 404
        assert (await fetch("GET", wrong))[0] == 404
    # A cross-site form post is refused even with the right link.
    status, _ = await fetch("POST", link, headers={"Origin": "https://evil.example"})
    assert status == 403
    clock.advance(hours=73)  # past the link's life
    assert (await fetch("POST", link))[0] == 404
    async with gateway.core.sessions() as session:
        held = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
        assert held is not None and held.status == "forwarded"


async def test_an_approved_request_notice_says_it_was_approved_and_has_the_link(
    gateway: LiveGateway,
) -> None:
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say(OWNER_CHANGE)
        await visitor.wait_for(lambda: "approval" in visitor.status)
        number = visitor.status["approval"]["number"]
        [offer] = (await approvals(gateway.url, "jan.kowalski"))[1]["approvals"]
        assert (await approve(gateway.url, offer["id"], "jan.kowalski", number))[0] == 200
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        ticket = visitor.status["ticket"]
    finally:
        await visitor.close()
    async with gateway.core.sessions() as session:
        items = (await session.scalars(select(OutboxItem))).all()
    [notice] = [
        message_from_bytes(i.payload, policy=default).get_content()  # type: ignore[attr-defined]
        for i in items
        if "jan@example.com" in i.destination and ticket.encode() in i.payload
    ]
    assert "Panelu Klienta" in notice and LINK.search(notice)
