"""The signed one-time link in a notice to an account's registered contact: "I did not ask for
this" stops the request, like a denial in the Client Panel.

The token names the ticket, the account and when it lapses, signed with the gateway's secret
key (retired keys still check), so it cannot be made for another request or kept forever. It
is one-time by what it does: once the request is cancelled there is nothing left to stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.clock import Clock
from gateway.keys import Keys

PREFIX = "not-me"
TOKEN = re.compile(
    r"(T-[A-Z0-9]{6})\.([1-9][0-9]{0,11})\.([1-9][0-9]{0,11})\.([0-9a-f]{16})\.([0-9a-f]{64})"
)


@dataclass(frozen=True, slots=True)
class LinkClaim:
    ticket: str
    account_id: int
    expires_at: datetime


class ContactLinks:
    def __init__(self, keys: Keys, base_url: str, clock: Clock, lifetime: timedelta) -> None:
        self._keys = keys
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._lifetime = lifetime

    def link(self, ticket: str, account_id: int, hold_until: datetime | None = None) -> str:
        """Valid for the request's hold (its cooling-off), and at least `lifetime`."""
        lapses = self._clock.now() + self._lifetime
        if hold_until is not None and hold_until > lapses:
            lapses = hold_until
        expires = int(lapses.timestamp())
        signer, mac = self._keys.sign(_message(ticket, account_id, expires))
        return f"{self._base}/not-me/{ticket}.{account_id}.{expires}.{signer}.{mac}"

    def claim(self, token: str) -> LinkClaim | None:
        """What a token stands for, if the gateway signed it and it has not lapsed."""
        match = TOKEN.fullmatch(token)
        if match is None:
            return None
        ticket, account, expires, signer, mac = match.groups()
        if not self._keys.signed(signer, mac, _message(ticket, int(account), int(expires))):
            return None
        expires_at = datetime.fromtimestamp(int(expires), UTC)
        if expires_at <= self._clock.now():
            return None
        return LinkClaim(ticket, int(account), expires_at)


def _message(ticket: str, account_id: int, expires: int) -> str:
    return f"{PREFIX}|{ticket}|{account_id}|{expires}"
