"""Rate limits ("20/10s"): a chat conversation's messages, a mail sender's messages. A flood
is refused, never queued."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*(s|m|h)?\s*")
_UNIT = {"s": 1, "m": 60, "h": 3600}


class RateSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float


def parse_rate(text: str, key: str = "chat.rate_limit") -> Rate:
    """`"20/10s"` → 20 per 10 seconds; also `"100/1m"`, `"5/1h"`. `key`: the config key it
    came from, for the error."""
    match = _RATE.fullmatch(text)
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise RateSyntaxError(f'config key {key!r}: expected like "20/10s", got {text!r}')
    return Rate(int(match[1]), int(match[2]) * _UNIT[match[3] or "s"])


class RateLimiter:
    """GCRA (the generic cell rate algorithm): `count` messages may come at once, then one per
    `seconds / count`. One float per conversation, so a thousand open chats cost a few KiB."""

    def __init__(self, rate: Rate, prune_at: int = 1024) -> None:
        self._interval = rate.seconds / rate.count
        self._burst = rate.seconds - self._interval
        self._prune_floor = self._prune_at = prune_at
        self._next_due: dict[str, float] = {}  # the "theoretical arrival time" per key

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        due = self._next_due.get(key, now)
        if now < due - self._burst:
            return False
        if key not in self._next_due and len(self._next_due) >= self._prune_at:
            self._forget_idle(now)
        self._next_due[key] = max(due, now) + self._interval
        return True

    def _forget_idle(self, now: float) -> None:
        """A key whose due time has passed has its full burst back: forgetting it is exact.
        The next pruning waits until the map has doubled, so the map stays within twice the
        conversations active in one window, at a cost spread thin over the new keys."""
        for key in [k for k, due in self._next_due.items() if due <= now]:
            del self._next_due[key]
        self._prune_at = max(self._prune_floor, 2 * len(self._next_due))
