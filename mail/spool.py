"""Accepted mail is committed here before the client hears 250: a crash after that loses
nothing, because processing starts from this copy (and restarts from it after a restart).

On PostgreSQL the spool is a table of the main database, shared by every node. On SQLite it is
a database file of its own beside the main one (`gateway.db` → `gateway.spool.db`): SQLite has
one writer per file, and taking mail in must not wait for the pipeline's transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import Clock
from gateway.storage.engine import create_engine, is_sqlite, writer_turn
from gateway.storage.group_commit import GroupCommitter
from gateway.storage.models import SpooledMail

MAX_FAILURES = 5


@dataclass(frozen=True, slots=True)
class Waiting:
    id: int
    key: str
    received_at: datetime
    peer: str
    envelope_from: str
    envelope_to: str
    raw: bytes


def separate_spool_url(database_url: str) -> str | None:
    """The spool's own SQLite file beside the main one; None where the main database serves."""
    url = make_url(database_url)
    if not is_sqlite(database_url) or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return url.set(
        database=str(path.with_name(f"{path.stem}.spool{path.suffix or '.db'}"))
    ).render_as_string(hide_password=False)


class Spool:
    def __init__(self, engine: AsyncEngine, clock: Clock, *, shared: bool) -> None:
        self.engine = engine
        self.shared = shared  # True: the spool table is in the main database
        # No linger: a sending server waits for each 250 before its next message, so rows
        # batch up by themselves while a commit is under way.
        self._rows = GroupCommitter(engine, cast(Table, SpooledMail.__table__), linger=0)
        self._clock = clock
        # Set after each store, so a processor on this node need not wait for its next poll;
        # and counted, so it can tell a trickle (keep up) from a flood (let the listener go first).
        self.stored = asyncio.Event()
        self.stored_count = 0
        # Accepted mail waiting, as this node knows it: exact after each processing pass,
        # and counted up as mail is taken in between (a flood's backlog shows as it grows).
        self.pending = 0

    @classmethod
    async def open(cls, main: AsyncEngine, database_url: str, clock: Clock) -> Spool:
        url = separate_spool_url(database_url)
        if url is None:
            return cls(main, clock, shared=True)
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(cast(Table, SpooledMail.__table__).create, checkfirst=True)
        return cls(engine, clock, shared=False)

    async def store(self, peer: str, envelope_from: str, envelope_to: list[str], raw: bytes) -> int:
        """Durably store one message (committed with others arriving at the same moment)."""
        row = {
            "key": uuid.uuid4().hex,
            "received_at": self._clock.now(),
            "peer": peer[:64],
            "envelope_from": envelope_from[:320],
            "envelope_to": json.dumps(envelope_to),
            "raw": raw,
            "failures": 0,
        }
        mail_id = await self._rows.insert(row)
        self.stored_count += 1
        self.pending += 1
        self.stored.set()
        return mail_id

    async def waiting(self, limit: int) -> list[Waiting]:
        """The oldest mail not yet processed, read without locking anything."""
        columns = [getattr(SpooledMail, field) for field in Waiting.__slots__]
        async with self._reading() as connection:
            rows = await connection.execute(
                select(*columns)
                .where(SpooledMail.failures < MAX_FAILURES)
                .order_by(SpooledMail.id)
                .limit(limit)
            )
            return [Waiting(*row) for row in rows]

    async def depth(self) -> int:
        async with self._reading() as connection:
            return int(await connection.scalar(select(func.count(SpooledMail.id))) or 0)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A read outside any transaction: on SQLite a transaction would take the write lock."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def remove(self, mail_ids: list[int]) -> None:
        if not mail_ids:
            return
        async with writer_turn(self.engine), self.engine.begin() as connection:
            await connection.execute(delete(SpooledMail).where(SpooledMail.id.in_(mail_ids)))

    async def count_failure(self, mail_id: int) -> int:
        async with writer_turn(self.engine), self.engine.begin() as connection:
            failures = await connection.scalar(
                update(SpooledMail)
                .where(SpooledMail.id == mail_id)
                .values(failures=SpooledMail.failures + 1)
                .returning(SpooledMail.failures)
            )
        return int(failures or 0)

    async def close(self) -> None:
        await self._rows.close()
        if not self.shared:
            await self.engine.dispose()
