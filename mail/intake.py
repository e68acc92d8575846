"""Bounds on what the support mailbox takes in, so one sender cannot fill the spool for
everyone (a spam run, a bounce storm, a mass mailing to support@): a sender past its rate, or
a connecting address past its own, gets `451 4.7.1` at MAIL FROM and its server retries later;
while the backlog of accepted, unprocessed mail is full, every new mail gets `451 4.3.2` until
it drains. Nothing accepted is ever dropped: the limits only say "later" before a message is
taken. Counted by each node, like the chat's limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.config import SmtpSettings
from gateway.rates import RateLimiter, parse_rate

FLOODING = "451 4.7.1 Too many messages from this sender, please try again later"
BACKLOGGED = "451 4.3.2 Too much mail waiting to be read, please try again later"


class Intake:
    def __init__(
        self,
        settings: SmtpSettings,
        backlog: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`backlog`: accepted mail not yet processed, as this node knows it (the spool's
        count, kept as mail comes in and exactly after each processing pass)."""
        self._senders = _limiter(settings.sender_rate, "smtp.sender_rate")
        self._peers = _limiter(settings.peer_rate, "smtp.peer_rate")
        self._max_backlog = settings.max_backlog
        self._backlog = backlog
        self._clock = clock

    def refusal(self, peer: str, sender: str) -> str | None:
        """The reply for a MAIL FROM that must wait, or None to take it."""
        now = self._clock()
        if self._max_backlog and self._backlog() >= self._max_backlog:
            return BACKLOGGED
        if self._peers is not None and not self._peers.allow(peer, now):
            return FLOODING
        if self._senders is not None and not self._senders.allow(sender_key(sender, peer), now):
            return FLOODING
        return None


def sender_key(sender: str, peer: str) -> str:
    """The envelope sender, case-folded, as one connecting address hands it over: anyone can
    write a client's address in MAIL FROM, and a forger flooding as jan@example.com from their
    own server must not make jan's own server wait (behind the provider's MTA, the peer is the
    MTA for everyone, and this is the sender alone). A bounce (the null sender) counts the same
    way, so one server's bounce storm does not use up every other server's bounces."""
    return f"{sender.strip().lower() or '<>'}|{peer}"


def _limiter(rate: str, key: str) -> RateLimiter | None:
    return RateLimiter(parse_rate(rate, key)) if rate else None
