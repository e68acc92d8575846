"""The console's actions through the real HTTP app, with a real chat client on the other side."""

from __future__ import annotations

import asyncio

import pytest
import socketio
from sqlalchemy import select

from gateway.audit.chain import sha256_hex, verify_chain
from gateway.codes.totp import totp_for
from gateway.staff.console import CONSOLE
from gateway.storage.models import AuditRecord, ChangeRequest
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.live import ChatClient, LiveGateway
from tests.staff.console_http import (
    STAFF_PASSWORD,
    STAFF_USER,
    StaffFeed,
    StaffHttp,
    fresh_code,
)
from tests.staff.flows import held_request, verified_request


@pytest.fixture
async def staff(staff_http: StaffHttp, staff_secret: str, clock: MovableClock) -> StaffHttp:
    """Logged in to the console."""
    response = await staff_http.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))
    assert response.status == 303 and staff_http.session_cookie
    return staff_http


def conversation_page(visitor: ChatClient) -> str:
    return f"/staff/conversations/{visitor.status['conversation']}"


async def chain(gateway: LiveGateway) -> tuple[int, list[AuditRecord]]:
    async with gateway.core.sessions() as session:
        report = await verify_chain(session, gateway.core.keys)
        assert report.intact, report.problem
        rows = (await session.scalars(select(AuditRecord).order_by(AuditRecord.seq))).all()
        return report.count, list(rows)


async def request_status(gateway: LiveGateway, ticket: str) -> str:
    async with gateway.core.sessions() as session:
        status = await session.scalar(
            select(ChangeRequest.status).where(ChangeRequest.ticket == ticket)
        )
        return str(status)


async def test_verified_requests_come_first_with_their_record(
    gateway: LiveGateway, staff: StaffHttp, clock: MovableClock
) -> None:
    waiting = await ChatClient(gateway.url).connect()
    verifying = await ChatClient(gateway.url).connect()
    try:
        held = await held_request(waiting)
        verified = await verified_request(verifying, clock)
    finally:
        await waiting.close()
        await verifying.close()
    entry = await gateway.server.app[CONSOLE].desk.entry(verified)
    assert entry is not None and entry.record is not None
    queue = await staff.page()
    assert queue.index(verified) < queue.index(held)
    verified_row = queue[queue.index(verified) : queue.index(held)]
    assert entry.record["hash"] in verified_row
    assert "badge-verified" in verified_row and "sender_authentication" in verified_row
    held_row = queue[queue.index(held) :]
    assert "unverified — no action possible" in held_row


async def test_a_reply_reaches_the_client_as_staff(staff: StaffHttp, visitor: ChatClient) -> None:
    page = conversation_page(visitor)
    response = await staff.submit(f"{page}/reply", page, text="Hello, this is Alice from support.")
    assert await staff.flash(response) == ("notice", "Reply sent.")
    await visitor.wait_for(lambda: visitor.texts("staff"))
    assert visitor.texts("staff") == ["Hello, this is Alice from support."]
    empty = await staff.submit(f"{page}/reply", page, text="   ")
    flash = await staff.flash(empty)
    assert flash is not None and flash[0] == "error"


async def test_request_verification_has_the_bot_ask_the_client(
    staff: StaffHttp, visitor: ChatClient
) -> None:
    await visitor.say("What are your opening hours?")
    await visitor.wait_for(lambda: len(visitor.texts()) == 2)
    assert visitor.status["stage"] == "open"
    page = conversation_page(visitor)
    response = await staff.submit(f"{page}/verification", page)
    flash = await staff.flash(response)
    assert flash is not None and flash[0] == "notice"
    await visitor.wait_for(lambda: visitor.status["stage"] == "identify")
    await visitor.wait_for(lambda: len(visitor.texts()) == 4)
    asked, which = visitor.texts()[-2:]
    assert "verified" in asked and visitor.status["ticket"] in asked
    assert "Which service" in which


async def test_recording_the_action_closes_the_request_on_the_chain(
    gateway: LiveGateway, staff: StaffHttp, visitor: ChatClient, clock: MovableClock
) -> None:
    ticket = await verified_request(visitor, clock)
    before, _ = await chain(gateway)
    page = conversation_page(visitor)
    assert f"/requests/{ticket}/action" in await staff.page(page)
    done = "Transfer code sent to the owner's e-mail, at the verified request of jan.kowalski."
    response = await staff.submit(f"{page}/requests/{ticket}/action", page, text=done)
    flash = await staff.flash(response)
    assert flash is not None and flash[0] == "notice" and ticket in flash[1]
    after, rows = await chain(gateway)
    assert after == before + 1
    assert rows[-1].kind == "action" and rows[-1].ticket == ticket
    assert sha256_hex(done) in rows[-1].body  # the chain holds the text's digest
    assert await request_status(gateway, ticket) == "closed"
    assert ticket not in await staff.page()  # gone from the queue
    assert f"/requests/{ticket}/action" not in await staff.page(page)


async def test_no_action_can_be_recorded_on_an_unverified_request(
    gateway: LiveGateway, staff: StaffHttp, visitor: ChatClient
) -> None:
    ticket = await held_request(visitor)
    before, _ = await chain(gateway)
    page = conversation_page(visitor)
    shown = await staff.page(page)
    assert "No action possible until the client verifies." in shown
    assert f"/requests/{ticket}/action" not in shown
    response = await staff.submit(f"{page}/requests/{ticket}/action", page, text="Deleted it.")
    assert await staff.flash(response) == (
        "error",
        f"request {ticket} is held: no action can be recorded",
    )
    assert (await chain(gateway))[0] == before
    assert await request_status(gateway, ticket) == "held"
    elsewhere = await staff.submit(
        f"/staff/conversations/{'A' * 22}/requests/{ticket}/action", page, text="Deleted it."
    )
    assert elsewhere.status == 404


async def test_unknown_conversations_are_404(staff: StaffHttp) -> None:
    missing = f"/staff/conversations/{'Z' * 22}"
    assert (await staff.get(missing))[0] == 404
    assert (await staff.submit(f"{missing}/reply", "/staff/", text="hello")).status == 404
    assert (await staff.submit(f"{missing}/verification", "/staff/")).status == 404


async def test_staff_never_see_the_code(
    staff: StaffHttp, visitor: ChatClient, clock: MovableClock
) -> None:
    await visitor.say("please delete my server vps-1234")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    code = totp_for(JAN_SECRET).at(clock.now())
    await visitor.say(f"login jan.kowalski code {code}")
    await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
    assert code not in await staff.page(conversation_page(visitor))
    assert code not in await staff.page()


async def test_no_route_marks_a_request_verified(gateway: LiveGateway) -> None:
    posts = sorted(
        route.resource.canonical
        for route in gateway.server.app.router.routes()
        if route.method == "POST" and route.resource is not None
        if route.resource.canonical.startswith("/staff")
        and route.resource.canonical != "/staff/socket.io/"  # engine.io's transport
    )
    assert posts == [
        "/staff/conversations/{conversation}/close",
        "/staff/conversations/{conversation}/reply",
        "/staff/conversations/{conversation}/requests/{ticket}/action",
        "/staff/conversations/{conversation}/verification",
        "/staff/login",
        "/staff/logout",
        "/staff/phone",  # holds a request for a caller; only the caller's approval verifies it
    ]


async def test_the_live_feed_needs_a_live_session(
    gateway: LiveGateway, staff: StaffHttp, visitor: ChatClient
) -> None:
    for cookie in (None, "forged-token"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await StaffFeed(gateway.url, cookie).connect()
    with pytest.raises(socketio.exceptions.ConnectionError):
        foreign = {"Origin": "https://evil.example"}
        await StaffFeed(gateway.url, staff.session_cookie, headers=foreign).connect()
    feed = await StaffFeed(gateway.url, staff.session_cookie).connect()
    try:
        conversation = visitor.status["conversation"]
        await visitor.say("please delete my server vps-1234")
        await feed.wait_for(lambda: feed.of("request"))
        said = [m for m in feed.of("message") if m["message"]["author"] == "client"]
        assert said[0]["conversation"] == conversation
        assert said[0]["message"]["text"] == "please delete my server vps-1234"
        status = feed.of("status")[-1]
        assert status["conversation"] == conversation and "token" not in status
        # The client's approval number is theirs to see, not every staff browser's.
        await visitor.wait_for(lambda: "approval" in visitor.status)
        assert all("approval" not in status for status in feed.of("status"))
        entry = feed.of("request")[-1]
        assert entry["ticket"] == visitor.status["ticket"]
        assert entry["verification"] == "unverified" and entry["actionable"] is False
        # Logging out cuts the feed off at the next event.
        await staff.submit("/staff/logout", "/staff/")
        await asyncio.sleep(1.1)
        await visitor.say("hello?")
        await feed.wait_for(lambda: not feed.connected)
    finally:
        await feed.close()


async def test_a_question_offers_only_an_answer_or_a_verification_never_an_action(
    gateway: LiveGateway, staff: StaffHttp, visitor: ChatClient, clock: MovableClock
) -> None:
    """A change the recogniser took for a question: the console shows no way to act on it,
    marks the line as covered by nothing, and offers to have the client verify it."""
    missed = "Hello, a small favour: Ewa is the one to talk to from today"
    assert gateway.core.policies.recognize(missed).intent == "general_question"
    await visitor.say(missed)
    await visitor.wait_for(lambda: len(visitor.texts()) == 2)
    ticket = visitor.status["ticket"]
    page = conversation_page(visitor)
    html = await staff.page(page)
    assert f"/requests/{ticket}/action" not in html
    assert 'data-covered="no"' in html and "No verification covers this line" in html
    assert "Request verification of " + ticket in html
    refused = await staff.submit(
        f"{page}/requests/{ticket}/action", page, text="changed the contact e-mail"
    )
    flash = await staff.flash(refused)
    assert flash is not None and flash[0] == "error" and "not verified" in flash[1]
    assert await request_status(gateway, ticket) == "forwarded"  # still only a question
    # Turned into a change of a kind staff name; the client's own code verifies it.
    line = html.split('data-covered="no"')[0].rsplit('data-id="', 1)[1].split('"')[0]
    response = await staff.submit(f"{page}/verification", page, line=line, intent="contact_change")
    assert (await staff.flash(response) or ("", ""))[0] == "notice"
    await visitor.wait_for(lambda: visitor.status["ticket"] != ticket)
    held = visitor.status["ticket"]
    await visitor.wait_for(lambda: visitor.status["stage"] == "identify")
    await visitor.say("example.pl")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    clock.advance(seconds=30)
    code = totp_for(JAN_SECRET).at(clock.now())
    assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
    html = await staff.page(page)
    assert f"/requests/{held}/action" in html
    done = "Contact changed at the verified request of jan.kowalski."
    response = await staff.submit(f"{page}/requests/{held}/action", page, text=done)
    assert (await staff.flash(response) or ("", ""))[0] == "notice"
    _, rows = await chain(gateway)
    assert rows[-1].kind == "action" and '"intents":["contact_change"]' in rows[-1].body
    assert '"services":["example.pl"]' in rows[-1].body


async def test_the_evidence_page_is_the_export_with_the_chains_verdict(
    staff: StaffHttp, visitor: ChatClient, gateway: LiveGateway, clock: MovableClock
) -> None:
    """Issue 13's evidence page: printable, the same bundle as `gateway audit export` in
    JSON, and a row edited outside the gateway shown as differing from the chain."""
    from sqlalchemy import update

    from gateway.audit.export import export_ticket

    ticket = await verified_request(visitor, clock)
    html = await staff.page(f"/staff/tickets/{ticket}")
    assert 'data-verdict="ok"' in html and f"Evidence for {ticket}" in html
    assert 'data-chained="yes"' in html and 'data-chained="no"' in html  # client's vs bot's
    async with staff.http.get(f"{staff.base}/staff/tickets/{ticket}.json") as response:
        assert response.status == 200
        bundle = await response.json()
    async with gateway.core.sessions() as session:
        assert bundle == json_roundtrip(await export_ticket(session, gateway.core.keys, ticket))
        record = await session.scalar(select(AuditRecord).where(AuditRecord.ticket == ticket))
    assert record is not None and record.hash in html
    async with gateway.core.sessions.begin() as session:
        await session.execute(
            update(ChangeRequest).where(ChangeRequest.ticket == ticket).values(login="mallory")
        )
    html = await staff.page(f"/staff/tickets/{ticket}")
    assert 'data-verdict="differs"' in html and "login is" in html
    assert (await staff.get("/staff/tickets/T-NONE00"))[0] == 404


def json_roundtrip(value: object) -> object:
    import json

    return json.loads(json.dumps(value))


async def test_a_cooling_off_hold_shows_no_form_until_it_ends(
    staff: StaffHttp, visitor: ChatClient, clock: MovableClock, staff_secret: str
) -> None:
    """A deletion's day of hold: the console says until when, and offers no form to record an
    action (which the gate would refuse) until the hold has run out."""
    ticket = await held_request(visitor)
    code = totp_for(JAN_SECRET).at(clock.now())
    assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
    await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
    page = conversation_page(visitor)
    html = await staff.page(page)
    assert "nothing can be recorded before then" in html
    assert f"/requests/{ticket}/action" not in html
    clock.advance(hours=25)
    await staff.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))  # a new day
    html = await staff.page(page)
    assert "nothing can be recorded before then" not in html
    assert f"/requests/{ticket}/action" in html
