"""Group commit: rows from many concurrent callers share one multi-row INSERT and one fsync,
so a busy channel costs a disk flush per batch rather than per message, while no caller is
answered before its row is durably stored.

Used where rows arrive fast and independently: chat lines, accepted e-mail. One committer per
table, each on a connection of its own kept in autocommit: a single statement is atomic by
itself, so there are no BEGIN/COMMIT round trips to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.lifecycle import stop_task
from gateway.storage.engine import writer_turn

log = logging.getLogger(__name__)
LINGER_SECONDS = 0.005
BUSY_SECONDS = 0.05  # a commit this recent means rows are flowing
MAX_BATCH = 1000  # also SQLAlchemy's insertmanyvalues page size: one statement per batch


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    stored: asyncio.Future[int]


class GroupCommitter:
    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        linger: float = LINGER_SECONDS,
    ) -> None:
        """`linger`: how long a busy committer waits for more rows before it commits. Worth it
        where a statement's CPU dominates (chat lines from hundreds of sockets); where the
        writers wait on their commit before sending more (SMTP), it only adds latency."""
        self._engine = engine
        self._linger = linger
        self._name = table.name
        self._insert: Insert = insert(table).returning(*table.primary_key.columns)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None

    async def insert(self, row: dict[str, Any]) -> int:
        """Store one row; returns its primary key once the batch it rode in has committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")
        pending = _Pending(row, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.stored

    async def close(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
        while not self._queue.empty():
            self._queue.get_nowait().stored.cancel()
        await self._drop_connection()

    async def _run(self) -> None:
        last_commit = 0.0
        last_size = 0
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if self._linger and last_size > 1 and loop.time() - last_commit < BUSY_SECONDS:
                # Many writers: linger a moment so the next INSERT carries many rows, not two
                # or three (a statement costs about a millisecond of CPU whatever its size).
                # When idle, or with one writer (who has nobody to wait for), rows go at once.
                await asyncio.sleep(self._linger)
            # Whatever arrived while the last batch was committing rides along with this one.
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            last_commit, last_size = loop.time(), len(batch)
            try:
                self._settle(batch, await self._commit(batch))
            except Exception as exc:
                log.error("%s batch of %d failed: %s", self._name, len(batch), type(exc).__name__)
                await self._drop_connection()
                # One bad row (its conversation purged meanwhile) must not fail the others.
                for pending in batch:
                    try:
                        self._settle([pending], await self._commit([pending]))
                    except Exception as single:
                        await self._drop_connection()
                        if not pending.stored.done():
                            pending.stored.set_exception(single)

    @staticmethod
    def _settle(batch: list[_Pending], keys: list[int]) -> None:
        for pending, key in zip(batch, keys, strict=True):
            if not pending.stored.done():
                pending.stored.set_result(key)

    async def _commit(self, batch: list[_Pending]) -> list[int]:
        connection = await self._writer_connection()
        async with writer_turn(self._engine):
            result = await connection.execute(self._insert, [pending.row for pending in batch])
        # Keys are assigned in VALUES order within one statement (SQLite rowids and PostgreSQL
        # sequence defaults alike), so sorted keys line up with the batch.
        return sorted(result.scalars())

    async def _writer_connection(self) -> AsyncConnection:
        """A connection kept for this committer: checking one out of the pool per batch,
        switching it to autocommit and resetting it on return cost three times the insert."""
        if self._connection is None:
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.close()
