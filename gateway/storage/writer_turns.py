"""SQLite's one writer, shared fairly within a process: the interactive writers (a chat turn, a
staff command, the spool taking in a mail, whose sender waits for its 250) in arrival order,
and the background's batches (mail processing, the outbox, retention) when none of those
waits, or after a few have gone ahead of them, so the background is slowed, never stopped.

A background batch asks `interactive_waiting` between its pieces of work and commits early when
someone is waiting, so nobody waits behind a long batch. PostgreSQL needs none of this: it
locks rows, not the database.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

AHEAD_OF_THE_BACKGROUND = 4  # interactive turns handed over while a background one waits


class WriterTurns:
    def __init__(self) -> None:
        self._held = False
        self._interactive: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._ahead = 0  # interactive handovers since a background writer began to wait
        self.interactive = _Turn(self, background=False)
        self.background = _Turn(self, background=True)

    @property
    def interactive_waiting(self) -> bool:
        return any(not waiter.done() for waiter in self._interactive)

    async def acquire(self, background: bool) -> None:
        queue = self._background if background else self._interactive
        if not self._held and not self._has_waiters():
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the turn as it was cancelled: pass it on
            raise
        finally:
            if waiter in queue:
                queue.remove(waiter)

    def release(self) -> None:
        """Hand the turn to the next waiter (it stays held), or free it."""
        for queue in self._order():
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    self._ahead = self._ahead + 1 if queue is self._interactive else 0
                    waiter.set_result(None)
                    return
        self._held, self._ahead = False, 0

    def _order(self) -> tuple[deque[asyncio.Future[None]], ...]:
        background_waits = any(not waiter.done() for waiter in self._background)
        if background_waits and self._ahead >= AHEAD_OF_THE_BACKGROUND:
            return (self._background, self._interactive)
        return (self._interactive, self._background)

    def _has_waiters(self) -> bool:
        return any(not w.done() for w in self._interactive) or any(
            not w.done() for w in self._background
        )


class _Turn:
    """`async with` one class of writer's turn; reusable, like a lock."""

    def __init__(self, turns: WriterTurns, background: bool) -> None:
        self._turns = turns
        self._background = background

    async def __aenter__(self) -> None:
        await self._turns.acquire(self._background)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._turns.release()
