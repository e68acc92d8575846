"""Per-conversation message rate limits ("20/10s"): a flood is refused, never queued."""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*(s|m|h)?\s*")
_UNIT = {"s": 1, "m": 60, "h": 3600}


class RateSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float


def parse_rate(text: str) -> Rate:
    """`"20/10s"` → 20 per 10 seconds; also `"100/1m"`, `"5/1h"`."""
    match = _RATE.fullmatch(text)
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise RateSyntaxError(
            f"config key 'chat.rate_limit': expected like \"20/10s\", got {text!r}"
        )
    return Rate(int(match[1]), int(match[2]) * _UNIT[match[3] or "s"])


class SlidingWindow:
    """Remembers the times of the last `count` messages per key; idle keys are dropped."""

    def __init__(self, rate: Rate, max_keys: int = 200_000) -> None:
        self._rate = rate
        self._max_keys = max_keys
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self._max_keys:
                self._forget_idle(now)
            times = self._seen[key] = deque(maxlen=self._rate.count)
        if len(times) == self._rate.count and now - times[0] < self._rate.seconds:
            return False
        times.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, t in self._seen.items() if not t or now - t[-1] >= self._rate.seconds]
        for key in idle:
            del self._seen[key]
