"""A real aiosmtpd server on the test's own loop, standing in for a relay or a mailbox."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpSink:
    port: int = field(default_factory=free_port)
    envelopes: list[Envelope] = field(default_factory=list)
    _parsed: list[Message] = field(default_factory=list)
    _server: asyncio.AbstractServer | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", self.port
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def messages(self) -> list[Message]:
        """Parsed once each: tests poll this while hundreds arrive."""
        for envelope in self.envelopes[len(self._parsed) :]:
            raw = bytes(envelope.original_content or b"")
            self._parsed.append(message_from_bytes(raw, policy=policy.default))
        return list(self._parsed)
