"""aiosmtpd's SMTP protocol served on the gateway's own event loop (not its threaded
Controller), with our limits: message size (SIZE, 552), commands per session, idle timeout,
optional STARTTLS, optional PROXY protocol."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from typing import AnyStr

from aiosmtpd.smtp import SMTP

from gateway.config import SmtpSettings
from mail.mailbox import TEMPORARY_FAILURE, SupportMailbox

PROXY_TIMEOUT_SECONDS = 5.0


# A plain <local-part@domain>: dot-atoms only, no quoting, comments or source routes.
_PLAIN_ADDRESS = re.compile(
    r"<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?![ \t]*\()[ \t]*"
)


class GatewaySMTP(SMTP):
    """aiosmtpd answers an exception in a hook with a permanent 500 that names it; the sender
    would drop the mail and learn our internals. Ours is always a silent, temporary 451."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd reads every MAIL and RCPT address with the e-mail header parser (and
        defines a class on each call): a third of the listener's CPU under load. A plain
        `<local@domain>`, nearly every address a relay sends, is read here at once, giving the
        same result; anything else goes the library's way (aiosmtpd 1.4)."""
        stripped = arg.lstrip()
        plain = _PLAIN_ADDRESS.match(stripped)
        if plain is None:
            return super()._getaddr(arg)
        address = plain.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, stripped[plain.end() :]

    async def handle_exception(self, error: Exception) -> str:
        try:
            return str(await self.event_handler.handle_exception(error))
        except Exception:
            return TEMPORARY_FAILURE

    async def push(self, status: AnyStr) -> None:
        """Every reply passes here, the library's own refusals too: the metrics count them."""
        await super().push(status)
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        self.event_handler.replied(text)


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# Commands a relay repeats for every message it hands over on one connection: ten times the
# budget, so a busy relay is not cut off while a session probing with VRFY or HELP soon is.
PER_MESSAGE_COMMANDS = ("MAIL", "RCPT", "DATA", "RSET", "NOOP")


def command_limits(budget: int) -> dict[str, int]:
    return {"*": budget, **dict.fromkeys(PER_MESSAGE_COMMANDS, budget * 10)}


async def start_listener(settings: SmtpSettings, mailbox: SupportMailbox) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    context = tls_context(settings)
    hostname = settings.hostname or socket.gethostname()  # not getfqdn(): no DNS lookup

    def protocol() -> GatewaySMTP:
        return GatewaySMTP(
            mailbox,
            data_size_limit=settings.max_message_size,
            hostname=hostname,
            ident="support gateway",
            tls_context=context,
            timeout=settings.idle_timeout,
            command_call_limit=command_limits(settings.max_commands),
            proxy_protocol_timeout=PROXY_TIMEOUT_SECONDS if settings.proxy_protocol_from else None,
            loop=loop,
        )

    return await loop.create_server(protocol, host=settings.host, port=settings.port)
