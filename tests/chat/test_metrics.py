"""What /metrics tells an operator, moved by real clients on every path it counts."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage

import pytest

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from mail.server import SMTP_PORT
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET, seed_clients
from tests.live import ChatClient, LiveGateway, live_gateway
from tests.metrics import Samples, scrape, value
from tests.smtp_sink import free_port
from tests.staff.console_http import (
    STAFF_PASSWORD,
    STAFF_USER,
    StaffFeed,
    StaffHttp,
    fresh_code,
    seed_staff,
)

MAX_MESSAGE_SIZE = 100_000


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    # A relay nobody listens on: what goes out stays in the outbox, for its gauges to show.
    settings = replace(
        settings,
        outbound={"smtp": f"127.0.0.1:{free_port()}"},
        smtp={"port": 0, "max_message_size": MAX_MESSAGE_SIZE},
    )
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


async def eventually(
    gateway: LiveGateway, holds: Callable[[Samples], bool], timeout: float = 10
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(gateway.metrics_url)
        if holds(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics never got there"
        await asyncio.sleep(0.1)


def connections(namespace: str) -> Callable[[Samples], float]:
    return lambda samples: value(samples, "gateway_socketio_connections", namespace=namespace)


async def test_socketio_connections_by_namespace(gateway: LiveGateway, clock: MovableClock) -> None:
    chat, staff = connections("chat"), connections("staff")
    first = await ChatClient(gateway.url).connect()
    second = await ChatClient(gateway.url).connect()
    console = StaffHttp.open(gateway.url)
    feed: StaffFeed | None = None
    try:
        samples = await scrape(gateway.metrics_url)
        assert chat(samples) == 2.0 and staff(samples) == 0.0
        secret = await seed_staff(gateway.core)
        await console.login(STAFF_USER, STAFF_PASSWORD, fresh_code(secret, clock))
        feed = await StaffFeed(gateway.url, console.session_cookie).connect()
        await eventually(gateway, lambda s: staff(s) == 1.0)
        await first.close()
        await eventually(gateway, lambda s: chat(s) == 1.0)
        await feed.close()
        feed = None
        await eventually(gateway, lambda s: staff(s) == 0.0)
    finally:
        await second.close()
        if feed is not None:
            await feed.close()
        await console.close()
    await eventually(gateway, lambda s: chat(s) == 0.0)


async def test_requests_verifications_and_the_outbox_worker_gauges(
    gateway: LiveGateway, clock: MovableClock
) -> None:
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say("please transfer example.pl to another registrar")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        assert await visitor.credentials("jan.kowalski", "000000") == {"ok": False}
        code = totp_for(JAN_SECRET).at(clock.now())
        assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
    finally:
        await visitor.close()
    samples = await scrape(gateway.metrics_url)
    requests = value(samples, "gateway_requests_total", intent="domain_transfer", channel="chat")
    assert requests == 1.0
    verifications = "gateway_verifications_total"
    accepted = value(samples, verifications, channel="chat", result="accepted", reason="")
    rejected = value(samples, verifications, channel="chat", result="rejected", reason="wrong_code")
    assert (accepted, rejected) == (1.0, 1.0)
    assert value(samples, "gateway_forwarded_total", channel="chat", verification="verified") == 1

    # The staff copy and the holder's notice wait for a relay that is down; the worker says so.
    samples = await eventually(gateway, lambda s: value(s, "gateway_outbox_depth") == 2.0)
    assert value(samples, "gateway_outbox_oldest_age_seconds") < 60
    clock.advance(minutes=5)
    samples = await scrape(gateway.metrics_url)  # the age grows between the worker's looks
    assert value(samples, "gateway_outbox_oldest_age_seconds") >= 300


async def test_lockouts_and_refusals_of_a_locked_conversation(gateway: LiveGateway) -> None:
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say("please delete my server vps-1234")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        for attempt in range(6):
            assert await visitor.credentials("jan.kowalski", f"{attempt:06d}") == {"ok": False}
    finally:
        await visitor.close()
    samples = await scrape(gateway.metrics_url)
    assert value(samples, "gateway_lockouts_total", scope="conversation") == 1.0
    assert value(samples, "gateway_lockouts_total", scope="account") == 1.0
    refused = value(
        samples,
        "gateway_verifications_total",
        channel="chat",
        result="rejected",
        reason="conversation_locked",
    )
    assert refused == 1.0


def smtp_session(port: int) -> tuple[int, int]:
    """A refused recipient, a mail too large (refused by aiosmtpd itself), then a mail taken;
    the two refusals' codes."""
    message = EmailMessage()
    message["From"] = "someone@example.com"
    message["To"] = "support@example.net"
    message["Subject"] = "Opening hours"
    message.set_content("When are you open?")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("someone@example.com")
        refused, _ = smtp.rcpt("nobody@example.org")
        smtp.rset()
        too_large, _ = smtp.mail("someone@example.com", [f"SIZE={MAX_MESSAGE_SIZE + 1}"])
        smtp.rset()
        smtp.send_message(message)  # raises unless the mail gets its 250
        return refused, too_large


async def test_smtp_replies_by_code(gateway: LiveGateway) -> None:
    port = gateway.server.app[SMTP_PORT]
    assert await asyncio.to_thread(smtp_session, port) == (550, 552)
    samples = await scrape(gateway.metrics_url)
    for code in ("550", "552", "250"):
        assert value(samples, "gateway_smtp_replies_total", code=code) == 1.0, code
