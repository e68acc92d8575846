"""The chat channel end to end: a real socket.io client against the real server."""

from __future__ import annotations

import time
from email import message_from_bytes

import pytest
import socketio

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from gateway.pipeline.model import CloseConversation
from gateway.storage.models import Conversation
from tests.chat.conftest import PANEL_KEY, staff_deliveries
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET, JAN_SECRET
from tests.live import ChatClient, LiveGateway, live_gateway


async def client(gateway: LiveGateway, **kwargs) -> ChatClient:  # type: ignore[no-untyped-def]
    return await ChatClient(gateway.url, **kwargs).connect()


async def test_the_notice_comes_first_and_a_question_needs_no_code(gateway: LiveGateway) -> None:
    visitor = await client(gateway)
    try:
        assert visitor.messages[0]["author"] == "bot"
        assert "recorded" in visitor.messages[0]["text"]
        assert visitor.status["stage"] == "open" and visitor.status["token"]
        ack = await visitor.say("What are your opening hours?")
        assert isinstance(ack["id"], int)
        await visitor.wait_for(lambda: len(visitor.texts()) == 2)
        assert visitor.status["intent"] == "general_question"
        assert visitor.status["stage"] == "open"
    finally:
        await visitor.close()


async def test_a_change_request_verified_with_totp(gateway: LiveGateway, clock) -> None:
    visitor = await client(gateway)
    try:
        await visitor.say("I want to move my domain to another registrar")
        await visitor.wait_for(lambda: visitor.status["stage"] == "identify")
        ticket = visitor.status["ticket"]
        assert ticket and ticket.startswith("T-")
        await visitor.say("example.pl")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        ack = await visitor.credentials("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
        assert ack == {"ok": True}
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        assert visitor.status["ticket"] == ticket
    finally:
        await visitor.close()
    delivered = await staff_deliveries(gateway)
    assert sorted(item.kind for item in delivered) == ["mail", "webhook"]
    staff_mail = message_from_bytes(next(i.payload for i in delivered if i.kind == "mail"))
    assert staff_mail["X-Gateway-Ticket"] == ticket


async def test_five_wrong_codes_lock_and_nothing_reaches_staff(gateway: LiveGateway) -> None:
    visitor = await client(gateway)
    try:
        await visitor.say("please delete my server vps-1234")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        for attempt in range(5):
            assert await visitor.credentials("jan.kowalski", f"{attempt:06d}") == {"ok": False}
        await visitor.wait_for(lambda: visitor.status["stage"] == "locked")
    finally:
        await visitor.close()
    assert await staff_deliveries(gateway) == []


async def test_a_replayed_code_is_refused_in_a_second_conversation(
    gateway: LiveGateway, clock
) -> None:
    code = totp_for(ANNA_SECRET).at(clock.now())
    first, second = await client(gateway), await client(gateway)
    try:
        for visitor in (first, second):
            await visitor.say("reset the password for anna.example")
            await visitor.wait_for(lambda v=visitor: v.status["stage"] == "authenticate")
        assert await first.credentials("anna.nowak", code) == {"ok": True}
        assert await second.credentials("anna.nowak", code) == {"ok": False}
    finally:
        await first.close()
        await second.close()


async def test_resume_by_token_restores_the_transcript(gateway: LiveGateway) -> None:
    visitor = await client(gateway)
    await visitor.say("change the DNS of example.pl")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    conversation, token = visitor.status["conversation"], visitor.status["token"]
    await visitor.close()
    again = await client(gateway, auth={"conversation": conversation, "token": token})
    try:
        assert again.status["stage"] == "authenticate"
        assert again.status["conversation"] == conversation
        assert [m["author"] for m in again.messages] == ["bot", "client", "bot"]
    finally:
        await again.close()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client(gateway, auth={"conversation": conversation, "token": "forged"})


async def test_a_foreign_origin_is_refused(gateway: LiveGateway) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client(gateway, headers={"Origin": "https://evil.example"})
    allowed = await client(gateway, headers={"Origin": "https://shop.example"})
    await allowed.close()


async def test_oversize_and_floods_get_error_acks(gateway: LiveGateway) -> None:
    visitor = await client(gateway)
    try:
        assert await visitor.say("x" * 501) == {"error": "too long"}
        started = time.monotonic()
        acks = [await visitor.say(f"hello {n}") for n in range(25)]
        elapsed = time.monotonic() - started
        assert {"error": "rate limited"} in acks
        # 20 at once, then one every half second (20/10s) while the flood lasted
        accepted = sum("id" in ack for ack in acks)
        assert 20 <= accepted <= 20 + int(elapsed / 0.5) + 1
    finally:
        await visitor.close()


async def test_a_closed_conversation_stays_closed(gateway: LiveGateway) -> None:
    visitor = await client(gateway)
    try:
        await gateway.core.pipeline.handle(
            CloseConversation("staff", visitor.status["conversation"])
        )
        await visitor.wait_for(lambda: visitor.status["stage"] == "closed")
        assert await visitor.say("hello?") == {"error": "closed"}
        assert await visitor.credentials("jan.kowalski", "123456") == {
            "ok": False,
            "error": "closed",
        }
    finally:
        await visitor.close()


async def test_shutdown_does_not_wait_for_clients_that_ignore_close(
    settings: Settings, clock: MovableClock
) -> None:
    """A browser ignores engine.io's CLOSE over a websocket; the gateway still stops at once."""
    import aiohttp

    async with live_gateway(settings, clock) as live, aiohttp.ClientSession() as http:
        url = f"{live.url}/socket.io/?EIO=4&transport=websocket"
        ws = await http.ws_connect(url)
        opened = await ws.receive_str()
        assert opened.startswith("0{")
        await ws.send_str("40/chat,")  # join the chat namespace, then never answer again
        started = time.monotonic()
        await live.server.close()
        assert time.monotonic() - started < 5
        message = await ws.receive()
        assert message.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.ERROR,
        )


async def test_a_change_request_verified_with_a_panel_code_bound_to_its_ticket(
    gateway: LiveGateway,
) -> None:
    """The Client Panel asks the API for a code bound to the ticket the widget shows."""
    import aiohttp

    visitor = await client(gateway)
    try:
        await visitor.say("please change the contact e-mail for anna.example")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        ticket = visitor.status["ticket"]
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{gateway.url}/api/panel/codes",
                json={"login": "anna.nowak", "ticket": ticket},
                headers={"Authorization": f"Bearer {PANEL_KEY}"},
            )
            assert response.status == 201
            code = (await response.json())["code"]
        assert await visitor.credentials("anna.nowak", code) == {"ok": True}
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        assert all(code not in message["text"] for message in visitor.messages)
    finally:
        await visitor.close()


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [(["127.0.0.0/8"], "198.51.100.7"), ([], "127.0.0.1"), (["10.0.0.0/8"], "127.0.0.1")],
)
async def test_the_client_address_behind_trusted_proxies(
    settings: Settings, clock: MovableClock, trusted: list[str], expected: str
) -> None:
    """The verification record names the browser's address, not nginx's, and only when the
    connection came from a proxy the operator listed."""
    settings = replace(settings, http={"trusted_proxies": trusted})
    async with live_gateway(settings, clock) as live:
        headers = {"X-Forwarded-For": "192.0.2.1, 198.51.100.7"}
        visitor = await ChatClient(live.url, headers=headers).connect()
        await visitor.close()
        async with live.core.sessions() as session:
            recorded = await session.get(Conversation, visitor.status["conversation"])
        assert recorded is not None and recorded.client == expected
