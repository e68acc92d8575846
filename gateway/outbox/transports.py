"""Where outgoing mail goes: an SMTP relay, or a Maildir for the embedded set-up and tests."""

from __future__ import annotations

import asyncio
import mailbox
import threading
from pathlib import Path
from typing import Protocol

import aiosmtplib


class OutboundConfigError(ValueError):
    pass


class MailTransport(Protocol):
    async def send(self, envelope_sender: str, recipients: list[str], message: bytes) -> None: ...


class SmtpRelay:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout

    async def send(self, envelope_sender: str, recipients: list[str], message: bytes) -> None:
        # Loopback or internal relays commonly have no TLS; never try STARTTLS uninvited.
        # sendmail() rather than send(): it takes the null return path (MAIL FROM:<>).
        client = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, timeout=self._timeout, start_tls=False
        )
        async with client:
            await client.sendmail(envelope_sender, recipients, message)


class MaildirDrop:
    """Writes each message as a file; Maildir's tmp→new rename makes each one appear whole."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._maildir: mailbox.Maildir | None = None
        # Writes run in threads; Maildir's unique-name counter is not thread-safe, and the first
        # writes would race to create the folders.
        self._writing = threading.Lock()

    async def send(self, envelope_sender: str, recipients: list[str], message: bytes) -> None:
        headers = f"Return-Path: <{envelope_sender}>\r\nDelivered-To: {', '.join(recipients)}\r\n"
        await asyncio.to_thread(self._write, headers.encode() + message)

    def _write(self, data: bytes) -> None:
        with self._writing:
            if self._maildir is None:
                self._maildir = mailbox.Maildir(self._path, create=True)
            self._maildir.add(data)


def mail_transport(setting: str) -> MailTransport:
    """`maildir:PATH` or `HOST:PORT`, as in `outbound.smtp`."""
    if setting.startswith("maildir:"):
        path = setting.removeprefix("maildir:")
        if not path:
            raise OutboundConfigError("config key 'outbound.smtp': maildir: needs a path")
        return MaildirDrop(Path(path))
    host, _, port = setting.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OutboundConfigError(
            f"config key 'outbound.smtp': expected HOST:PORT or maildir:PATH, got {setting!r}"
        )
    return SmtpRelay(host.strip("[]"), int(port))
