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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import Clock
from gateway.pipeline.model import Author, ChatMessage
from gateway.storage.models import TranscriptMessage

log = logging.getLogger(__name__)
LINGER_SECONDS = 0.005
BUSY_SECONDS = 0.05  # a commit this recent means lines are flowing
MAX_BATCH = 1000  # also SQLAlchemy's insertmanyvalues page size: one statement per batch
_TABLE = cast(Table, TranscriptMessage.__table__)
_INSERT = insert(_TABLE).returning(_TABLE.c.id)


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
        self._connection: AsyncConnection | None = None

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
        await self._drop_connection()

    async def _run(self) -> None:
        last_commit = 0.0
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if loop.time() - last_commit < BUSY_SECONDS:
                # Busy: linger a moment so the next insert carries many lines, not two or three
                # (a statement costs about a millisecond of CPU whatever its size). When idle,
                # the first line goes at once.
                await asyncio.sleep(LINGER_SECONDS)
            # Whatever arrived while the last batch was committing rides along with this one.
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            last_commit = loop.time()
            try:
                self._settle(batch, await self._commit(batch))
            except Exception as exc:
                log.error("transcript batch of %d failed: %s", len(batch), type(exc).__name__)
                await self._drop_connection()
                # One bad line (its conversation purged meanwhile) must not fail the others.
                for pending in batch:
                    try:
                        self._settle([pending], await self._commit([pending]))
                    except Exception as single:
                        await self._drop_connection()
                        if not pending.stored.done():
                            pending.stored.set_exception(single)

    @staticmethod
    def _settle(batch: list[_Pending], stored: list[ChatMessage]) -> None:
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
        # One multi-row INSERT (SQLAlchemy's "insertmanyvalues" renders the batch, up to
        # MAX_BATCH rows, into a single statement from one cached compilation) in autocommit
        # mode: a single statement is atomic by itself, with no BEGIN/COMMIT round trips.
        connection = await self._writer_connection()
        # Keys are assigned in VALUES order within one statement (SQLite rowids and PostgreSQL
        # sequence defaults alike), so sorted ids line up with the batch.
        ids = sorted((await connection.execute(_INSERT, rows)).scalars())
        return [
            ChatMessage(message_id, pending.author, pending.text, now)
            for message_id, pending in zip(ids, batch, strict=True)
        ]

    async def _writer_connection(self) -> AsyncConnection:
        """A connection kept for the writer: checking one out of the pool per batch, switching
        it to autocommit and resetting it on return cost three times the insert itself."""
        if self._connection is None:
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.close()
