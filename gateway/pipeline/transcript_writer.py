"""Group commit for transcript lines: the appends of many conversations share one transaction
and one fsync, so a busy chat costs a disk flush per batch rather than per message, while no
message is acknowledged before it is durably stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import Clock
from gateway.pipeline.model import Author, ChatMessage
from gateway.storage.models import TranscriptMessage

log = logging.getLogger(__name__)
MAX_BATCH = 1000


@dataclass(slots=True)
class _Pending:
    conversation_id: str
    author: Author
    text: str
    stored: asyncio.Future[ChatMessage]


class TranscriptWriter:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def append(self, conversation_id: str, author: Author, text: str) -> ChatMessage:
        """Store one line (already redacted) and return it once its batch has committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="transcript-writer")
        pending = _Pending(
            conversation_id, author, text, asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(pending)
        return await pending.stored

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            self._queue.get_nowait().stored.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Whatever arrived while the last batch was committing rides along with this one.
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                stored = await self._commit(batch)
            except Exception as exc:
                log.error("transcript batch of %d failed: %s", len(batch), type(exc).__name__)
                for pending in batch:
                    if not pending.stored.done():
                        pending.stored.set_exception(exc)
                continue
            for pending, message in zip(batch, stored, strict=True):
                if not pending.stored.done():
                    pending.stored.set_result(message)

    async def _commit(self, batch: list[_Pending]) -> list[ChatMessage]:
        now = self._clock.now()
        rows = [
            {
                "conversation_id": p.conversation_id,
                "author": p.author.value,
                "text": p.text,
                "created_at": now,
            }
            for p in batch
        ]
        table = cast(Table, TranscriptMessage.__table__)
        # One multi-row INSERT, in autocommit mode: a single statement is atomic by itself, and
        # there are no BEGIN/COMMIT (or per-row) round trips to the database thread.
        statement = insert(table).values(rows).returning(table.c.id)
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # Keys are assigned in VALUES order within one statement (SQLite rowids and
            # PostgreSQL sequence defaults alike), so sorted ids line up with the batch.
            ids = sorted((await autocommit.execute(statement)).scalars())
        return [
            ChatMessage(message_id, pending.author, pending.text, now)
            for message_id, pending in zip(ids, batch, strict=True)
        ]
