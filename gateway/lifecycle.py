"""Stopping without losing work: count what is under way, and let background loops finish the
pass they are in. Shutdown (SIGTERM) has ten seconds in all; each wait here has its share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class InFlight:
    """Work under way (a chat turn, an SMTP transaction being stored) that shutdown waits for."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def settled(self, seconds: float) -> bool:
        """True once nothing is under way; False if something still is after `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)
        return self._idle.is_set()


async def wind_down(task: asyncio.Task[None], stopping: asyncio.Event, grace: float) -> None:
    """Ask a background loop to stop after its current pass; cancel it if that takes longer
    than `grace` (its transaction then rolls back, and the work waits for the next node)."""
    stopping.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), grace)
    await stop_task(task)


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel a background loop that has nothing to finish (a no-op once it has ended), and
    wait until it has stopped; an error it ended with still surfaces."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
