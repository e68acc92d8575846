"""The support mailbox's SMTP hooks (aiosmtpd finds them by name: handle_MAIL, handle_RCPT,
handle_DATA, handle_PROXY, handle_exception). It holds a flood back at MAIL FROM, accepts only
our addresses, stores before it says 250, and answers every failure with a temporary 451 that
says nothing about the cause, so the sending server retries instead of bouncing the client's
mail."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from gateway.lifecycle import InFlight
from gateway.metrics import Metrics
from mail.intake import Intake
from mail.parse import NotMail, check_is_mail
from mail.spool import Spool

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 50
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"


class SupportMailbox:
    def __init__(
        self,
        addresses: Sequence[str],
        spool: Spool,
        metrics: Metrics,
        proxy_from: Sequence[str] = (),
        intake: Intake | None = None,
    ) -> None:
        self._intake = intake
        self._addresses = frozenset(address.strip().lower() for address in addresses)
        self._spool = spool
        self._metrics = metrics
        self._proxy_from = tuple(ipaddress.ip_network(net, strict=False) for net in proxy_from)
        self.storing = InFlight()  # shutdown waits for these before closing the spool

    async def handle_MAIL(  # noqa: N802 - aiosmtpd finds hooks by this exact name
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """A flood waits here, before a byte of it is taken (mail/intake.py)."""
        if self._intake is not None:
            refusal = self._intake.refusal(_peer_address(session), address or "")
            if refusal is not None:
                return self._answer(refusal)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd finds hooks by this exact name
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() not in self._addresses:
            return self._answer("550 5.1.1 No such recipient here")
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return self._answer("452 4.5.3 Too many recipients")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd finds hooks by this exact name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            check_is_mail(raw)
        except NotMail as exc:
            log.info("refused data that is not mail: %s", exc)
            return self._answer("554 5.6.0 Message is not a valid e-mail message")
        peer = _peer_address(session)
        try:
            with self.storing.track():
                mail_id = await self._spool.store(
                    peer, envelope.mail_from or "", envelope.rcpt_tos, raw
                )
        except Exception as exc:
            log.error("could not store accepted mail: %s", type(exc).__name__)
            return self._answer(TEMPORARY_FAILURE)
        return self._answer(f"250 2.0.0 OK queued as {mail_id}")

    async def handle_PROXY(  # noqa: N802 - aiosmtpd finds hooks by this exact name
        self, server: Any, session: Session, envelope: Envelope, proxy_data: Any
    ) -> bool:
        """A PROXY header is believed only from the load balancers we were told about."""
        connected: Any = session.peer  # (host, port) for TCP
        try:
            peer = ipaddress.ip_address(connected[0])
        except (ValueError, TypeError, IndexError):
            return False
        return any(peer in network for network in self._proxy_from)

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session failed: %s", type(error).__name__)
        return self._answer(TEMPORARY_FAILURE)

    def replied(self, status: str) -> None:
        """Every refusal and failure the session sends, ours or aiosmtpd's own (552 too large,
        421 too many commands, 5xx syntax), counted as it goes out (GatewaySMTP.push)."""
        if status[:1] in ("4", "5"):
            self._metrics.smtp_replies.labels(status[:3]).inc()

    def _answer(self, status: str) -> str:
        if status[:1] == "2":  # a mail taken; refusals are counted as they are sent (replied)
            self._metrics.smtp_replies.labels(status[:3]).inc()
        return status


def _peer_address(session: Session) -> str:
    proxied = getattr(session, "proxy_data", None)
    source = getattr(proxied, "src_addr", None) if proxied else None
    if source is not None:
        return str(source)
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")
