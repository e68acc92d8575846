"""A live gateway with its SMTP listener, and a real aiosmtpd sink standing in for both the
staff mailbox and the clients' mailboxes (the gateway's outbound relay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import Message

import aiosmtplib
import pytest

from gateway.config import Settings, replace
from mail.server import SMTP_PORT
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import LiveGateway, live_gateway
from tests.smtp_sink import SmtpSink, free_port

SUPPORT = "support@example.net"
STAFF = "staff@example.net"


@dataclass
class MailGateway:
    live: LiveGateway
    sink: SmtpSink

    @property
    def smtp_port(self) -> int:
        return self.live.server.app[SMTP_PORT]

    async def send(
        self,
        raw: bytes | str,
        sender: str = "jan@example.com",
        recipients: tuple[str, ...] = (SUPPORT,),
    ) -> tuple[int, str]:
        """One SMTP transaction with a real client; returns the DATA reply."""
        data = raw.encode() if isinstance(raw, str) else raw
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, start_tls=False)
        async with client:
            errors, message = await client.sendmail(sender, list(recipients), data)
        return 250, message

    async def wait_for(
        self, condition: Callable[[list[Message]], bool], timeout: float = 15
    ) -> None:
        async def until() -> None:
            while not condition(self.sink.messages):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until(), timeout)

    def to(self, recipient: str) -> list[Message]:
        return [
            m
            for e, m in zip(self.sink.envelopes, self.sink.messages, strict=True)
            if recipient in e.rcpt_tos
        ]


@pytest.fixture
async def mail_gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[MailGateway]:
    sink = await SmtpSink().start()
    settings = replace(
        settings,
        smtp={
            "port": free_port(),
            "hostname": "mx.example.net",
            "trusted_authserv_id": "mx.example.net",  # our MTA's Authentication-Results
            "max_message_size": 200_000,
            "addresses": [SUPPORT],
        },
        outbound={"smtp": f"127.0.0.1:{sink.port}", "sender": SUPPORT},
        staff={"mailbox": STAFF},
    )
    try:
        async with live_gateway(settings, clock) as live:
            await seed_clients(live.core)
            yield MailGateway(live, sink)
    finally:
        await sink.stop()


def email(
    subject: str,
    body: str,
    *,
    sender: str = "jan@example.com",
    headers: str = "",
    message_id: str = "<first@example.com>",
) -> str:
    return (
        f"From: Jan Kowalski <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}\r\n{body}\r\n"
    )
