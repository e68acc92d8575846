"""Deliveries to staff survive a relay or helpdesk that is down, and arrive once it is back."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from gateway.cli.operate import migrate
from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from gateway.core import Core, open_core
from gateway.outbox.transports import mail_transport
from gateway.outbox.webhook import WebhookSender
from gateway.outbox.worker import OutboxWorker
from gateway.storage.models import OutboxItem
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET, seed_clients
from tests.gateway.memory_channel import MemoryChat
from tests.smtp_sink import SmtpSink, free_port


async def verify_a_request(core: Core, clock: MovableClock) -> str:
    client = await MemoryChat(core.pipeline).open()
    await client.say("please transfer example.pl to another registrar")
    outcome = await client.form("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
    assert outcome.verified and client.status is not None and client.status.ticket
    return client.status.ticket


async def pending(core: Core) -> list[OutboxItem]:
    async with core.sessions() as session:
        query = select(OutboxItem).where(OutboxItem.delivered_at.is_(None))
        return list((await session.scalars(query)).all())


async def test_a_relay_that_is_down_loses_nothing(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    sink = SmtpSink(port=free_port())
    worker = OutboxWorker(
        core.sessions, core.outbox, clock, mail_transport(f"127.0.0.1:{sink.port}"), None
    )
    ticket = await verify_a_request(core, clock)
    assert await worker.deliver_due() == 2  # staff copy and the contact's notice, both refused
    waiting = await pending(core)
    assert len(waiting) == 2 and all(item.attempts == 1 for item in waiting)
    assert all("Connect" in item.last_error or "refused" in item.last_error for item in waiting)
    assert await worker.deliver_due() == 0  # backing off, not hammering

    await sink.start()
    try:
        clock.advance(seconds=10)
        assert await worker.deliver_due() == 2
        assert await pending(core) == []
        clock.advance(hours=2)
        assert await worker.deliver_due() == 0
    finally:
        await sink.stop()
    subjects = sorted(message["Subject"] for message in sink.messages)
    assert len(subjects) == 2
    staff = next(m for m in sink.messages if m["X-Gateway-Ticket"] == ticket)
    assert staff["X-Gateway-Verification"] == "verified"
    senders = {tuple(e.rcpt_tos): e.mail_from for e in sink.envelopes}
    assert senders[("staff@example.net",)] == "support@example.net"
    assert senders[("jan@example.com",)] in ("", "<>")  # the null return path: no bounces


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A helpdesk that fails twice, then accepts; it keeps what it was sent."""
    received: list[tuple[dict[str, str], bytes]] = []
    answers = [500, 503, 204]

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=answers[min(len(received), len(answers)) - 1])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_webhook_is_signed_and_retried_until_accepted(
    settings: Settings,
    clock: MovableClock,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    secret = "whsec-test-secret"
    hooked = replace(settings, staff={"mailbox": "", "webhook_url": url, "webhook_secret": secret})
    await migrate(hooked)
    async with open_core(hooked, clock) as core, aiohttp.ClientSession() as http:
        await seed_clients(core)
        mail = mail_transport(f"maildir:{settings.data_dir / 'mail'}")
        worker = OutboxWorker(core.sessions, core.outbox, clock, mail, WebhookSender(http, secret))
        ticket = await verify_a_request(core, clock)
        for _ in range(3):
            await worker.deliver_due()
            clock.advance(minutes=5)
        assert await pending(core) == []
        assert await worker.deliver_due() == 0
    assert len(received) == 3
    assert len({headers["X-Gateway-Delivery"] for headers, _ in received}) == 1
    for headers, body in received:
        fields = dict(part.split("=", 1) for part in headers["X-Gateway-Signature"].split(","))
        expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
        assert hmac.compare_digest(fields["sha256"], expected.hexdigest())
        record = json.loads(body)
        assert record["ticket"] == ticket and record["verification"] == "verified"
        assert record["hash"] and record["prev_hash"] == "0" * 64


async def test_an_item_edited_in_the_database_is_never_delivered(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    """Review (helper-11, F3): a staff copy waiting in the outbox was rewritten in place (the
    login, the request text), or by a trigger on every insert, and delivered as the gateway's
    own. Each item is sealed when queued; an edited one stays undelivered, saying why."""
    sink = SmtpSink(port=free_port())
    await sink.start()
    try:
        worker = OutboxWorker(
            core.sessions, core.outbox, clock, mail_transport(f"127.0.0.1:{sink.port}"), None
        )
        ticket = await verify_a_request(core, clock)
        async with core.sessions.begin() as session:
            for item in await session.scalars(select(OutboxItem)):
                if item.ticket == ticket:
                    item.payload = item.payload.replace(b"jan.kowalski", b"anna.nowak")
        assert await worker.deliver_due() == 2
        (kept,) = await pending(core)
        assert kept.ticket == ticket and "edited in the database" in kept.last_error
        assert all(m["X-Gateway-Ticket"] != ticket for m in sink.messages)
        assert len(sink.messages) == 1  # the contact's notice, untouched, went
    finally:
        await sink.stop()
