"""Bulk changes in bounded batches, each its own short transaction: a maintenance pass over
millions of rows (the retention purge) never holds one giant transaction, nor SQLite's write
lock for longer than a chat turn would.

Rows are picked by keyset (`id > the last one seen`), so rows that must stay are passed over
once per pass instead of being read again by every batch. A dry run counts instead of changing,
outside any transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.storage.engine import writer_turn
from gateway.storage.models import Base

Pick = Callable[[Any], Select[Any]]  # the next batch's ids, given the last id seen


async def batches(
    engine: AsyncEngine, pick: Pick, start: Any, *, dry_run: bool
) -> AsyncGenerator[tuple[AsyncConnection, list[Any]], None]:
    """Each batch of ids is yielded inside a transaction of its own, which commits when the
    caller asks for the next one (use it under `contextlib.aclosing`, so an error rolls back at
    once). The picked rows are locked; on PostgreSQL SKIP LOCKED passes over rows a client's
    turn or another node holds: the next pass takes them."""
    after = start
    while True:
        async with _transaction(engine, dry_run) as connection:
            statement = pick(after)
            if not dry_run:
                statement = statement.with_for_update(skip_locked=True)
            ids = list(await connection.scalars(statement))
            if not ids:
                return
            yield connection, ids
        after = ids[-1]
        await asyncio.sleep(0)  # run as a task of the server, it lets the turns in between


@asynccontextmanager
async def _transaction(engine: AsyncEngine, dry_run: bool) -> AsyncIterator[AsyncConnection]:
    if dry_run:
        # Statements outside a transaction: on SQLite a transaction takes the write lock.
        async with engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")
        return
    async with writer_turn(engine, background=True), engine.begin() as connection:
        yield connection


async def apply(
    connection: AsyncConnection,
    model: type[Base],
    where: Sequence[ColumnElement[bool]],
    values: Mapping[str, Any] | None,
    *,
    dry_run: bool,
) -> int:
    """Set `values` on the matching rows (None: delete them), or with `dry_run` count them."""
    if dry_run:
        counted = await connection.scalar(select(func.count()).select_from(model).where(*where))
        return int(counted or 0)
    if values is None:
        result = await connection.execute(delete(model).where(*where))
    else:
        result = await connection.execute(update(model).where(*where).values(dict(values)))
    return int(result.rowcount)


async def pages(
    session: AsyncSession, query: Select[Any], key: InstrumentedAttribute[Any], size: int
) -> AsyncIterator[Sequence[Any]]:
    """A read of many rows in pages by keyset (`key > the last one seen`), in the caller's
    session: a check over millions of rows never loads them all at once."""
    last: Any = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = (await session.scalars(page.order_by(key).limit(size))).all()
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key.key)
