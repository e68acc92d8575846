"""The SMTP listener's limits and options, against real sockets: SIZE advertised, STARTTLS with a
configured certificate, the PROXY protocol believed only from configured peers, an idle
timeout, and a per-command limit."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.core import Core
from gateway.storage.models import SpooledMail
from mail.listener import GatewaySMTP, start_listener
from mail.mailbox import SupportMailbox
from mail.spool import Spool, separate_spool_url
from tests.mail.conftest import SUPPORT, email

Listen = Callable[..., Awaitable[int]]
MAIL = email("Hello", "What are your opening hours?").encode()


@pytest.fixture
async def listen(core: Core) -> AsyncIterator[Listen]:
    """Start a listener with some smtp.* settings changed; returns its port."""
    opened: list[tuple[asyncio.Server, Spool]] = []

    async def start(**smtp: Any) -> int:
        settings = dataclasses.replace(core.settings.smtp, port=0, **smtp)
        spool = await Spool.open(core.engine, core.settings.database.url, core.clock)
        mailbox = SupportMailbox([SUPPORT], spool, core.metrics, settings.proxy_protocol_from)
        server = await start_listener(settings, mailbox)
        opened.append((server, spool))
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server, spool in opened:
        server.close()
        await spool.close()


async def stored(core: Core) -> list[Any]:
    """What the spool holds (nothing processes it here)."""
    engine = create_async_engine(
        separate_spool_url(core.settings.database.url) or core.settings.database.url
    )
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(select(SpooledMail)))
    finally:
        await engine.dispose()


async def dialogue(port: int, lines: list[bytes], prefix: bytes = b"") -> list[bytes]:
    """A hand-driven SMTP session: send each line, collect each (possibly multi-line) reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if prefix:
        writer.write(prefix)
    replies = [await read_reply(reader)]
    for line in lines:
        writer.write(line)
        await writer.drain()
        replies.append(await read_reply(reader))
    writer.close()
    return replies


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    reply = b""
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        reply += line
        if len(line) < 4 or line[3:4] != b"-":
            return reply


async def test_size_is_advertised_and_starttls_only_with_a_certificate(listen: Listen) -> None:
    port = await listen(max_message_size=123_456)
    greeting, ehlo = await dialogue(port, [b"EHLO client.example\r\n"])
    assert greeting.startswith(b"220 ")
    assert b"SIZE 123456" in ehlo
    assert b"STARTTLS" not in ehlo


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=mx.example.net", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_starttls_with_a_configured_certificate_carries_the_mail(
    listen: Listen, certificate: tuple[str, str], core: Core
) -> None:
    cert, key = certificate
    port = await listen(tls_cert=cert, tls_key=key)
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, start_tls=True, tls_context=client_context
    )
    async with client:
        assert client.is_connected and client.get_transport_info("sslcontext") is not None
        await client.sendmail("jan@example.com", [SUPPORT], MAIL)
    assert len(await stored(core)) == 1


async def test_a_proxy_header_is_believed_only_from_the_configured_balancer(
    listen: Listen, core: Core
) -> None:
    proxy = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n"
    trusted = await listen(proxy_protocol_from=["127.0.0.1/32"])
    replies = await dialogue(
        trusted,
        [
            b"EHLO lb.example\r\n",
            b"MAIL FROM:<jan@example.com>\r\n",
            f"RCPT TO:<{SUPPORT}>\r\n".encode(),
            b"DATA\r\n",
            MAIL + b".\r\n",
        ],
        prefix=proxy,
    )
    assert replies[-1].startswith(b"250 ")
    (mail,) = await stored(core)
    assert mail.peer == "203.0.113.7"

    untrusted = await listen(proxy_protocol_from=["10.0.0.0/8"])
    reader, writer = await asyncio.open_connection("127.0.0.1", untrusted)
    writer.write(proxy)
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, not even greeted
    writer.close()


async def test_an_idle_session_is_closed(listen: Listen) -> None:
    port = await listen(idle_timeout=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await read_reply(reader)).startswith(b"220 ")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_a_command_repeated_past_the_limit_ends_the_session(listen: Listen) -> None:
    port = await listen(max_commands=3)
    replies = await dialogue(port, [b"HELP\r\n"] * 4)
    assert [reply[:3] for reply in replies[1:]] == [b"250", b"250", b"250", b"421"]


ADDRESS_PIECES = st.sampled_from(
    ["<", ">", "@", ".", "a", "Z", "0", "-", "+", "_", " ", "(", ")", '"', "\\", "[", "]", ":",
     ",", "ą", "SIZE=10", "\t", "example", "com"]
)  # fmt: skip
KNOWN_ADDRESSES = [
    "<a@b.c>", "<a@b.c> SIZE=100 BODY=8BITMIME", " <jan.kowalski@example.com>  SIZE=5", "<>",
    "<a@b>", '<"q u"@b.c>', "<a..b@c.d>", "<@x:a@b.c>", "a@b.c", "<a@b.c>x", "<a@[1.2.3.4]>",
    "<a(c)@b.c>", "<a@b.c> (comment)", "<a@b.c>(c) SIZE=1", "<ą@b.c>", "<a@b.c >",
    "<" + "a" * 70 + "@b.c>",
]  # fmt: skip


def read_address(server: SMTP, arg: str) -> object:
    try:
        return server._getaddr(arg)
    except Exception as exc:
        return type(exc)


@pytest.fixture(scope="module")
def sessions() -> Iterator[tuple[SMTP, SMTP]]:
    """Ours and the library's, on a loop of their own that is closed afterwards (without a
    loop, aiosmtpd makes one per session, and an unclosed loop warns in a later test)."""
    loop = asyncio.new_event_loop()
    try:
        yield GatewaySMTP(object(), loop=loop), SMTP(object(), loop=loop)
    finally:
        loop.close()


@pytest.mark.parametrize("arg", KNOWN_ADDRESSES)
def test_known_addresses_read_as_aiosmtpd_reads_them(arg: str, sessions: tuple[SMTP, SMTP]) -> None:
    ours, library = sessions
    assert read_address(ours, arg) == read_address(library, arg)


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(st.lists(ADDRESS_PIECES, max_size=20).map("".join))
def test_addresses_read_as_aiosmtpd_reads_them(sessions: tuple[SMTP, SMTP], arg: str) -> None:
    """The listener's fast path for plain addresses must agree with the library everywhere."""
    ours, library = sessions
    assert read_address(ours, arg) == read_address(library, arg)
