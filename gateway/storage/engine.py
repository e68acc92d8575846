"""Engines for the two supported databases, tuned so that concurrent writers stay correct."""

from __future__ import annotations

import contextlib
import weakref
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from gateway.storage.writer_turns import WriterTurns

SQLITE_BUSY_TIMEOUT_MS = 15000
# SQLite's own page cache, per connection (its default is 2 MiB). The kernel's page cache holds
# the file anyway; a large private copy only doubles it, and grows with the database until it
# is full (measured: 2 KiB of RSS per open chat in bench/chat.py, with no gain in throughput).
SQLITE_CACHE_KIB = 256


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Two connections per file and process: one kept by its group committer (chat lines, or
    # accepted mail in the spool's file), one shared by everything else, which so takes its
    # turn in the pool's queue, in order. SQLite has one writer anyway, and more connections
    # in one process only fight over the lock in its busy handler, where a writer that begins
    # again at once (the mail processor) starves the others (p99 near a second in the
    # baseline; /metrics timing out while a backlog drained).
    engine = create_async_engine(url, pool_size=2, max_overflow=0, pool_timeout=60)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so a read-then-write transaction in another
    # process (the CLI beside the server) waits for the lock instead of failing mid-way.
    # In AUTOCOMMIT (single-statement writes) SQLite makes each statement its own transaction.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()


def writer_turn(engine: AsyncEngine, background: bool = False) -> AbstractAsyncContextManager[Any]:
    """Wait here for this process's turn to write to SQLite (gateway/storage/writer_turns.py).

    SQLite has one writer at a time, and its busy handler makes the others sleep and retry, so
    a writer that commits and begins again at once (the mail processor, a burst of chat turns)
    starves the rest: spool commits, and with them SMTP answers, waited seconds. Queueing in
    the process first keeps every writer's wait to the transactions ahead of it, and the
    `background` writers (mail processing, the outbox) go after the interactive ones. PostgreSQL
    locks rows, not the database: no turn is needed there.
    """
    turns = _turns(engine)
    if turns is None:
        return contextlib.nullcontext()
    return turns.background if background else turns.interactive


def interactive_waiting(engine: AsyncEngine) -> bool:
    """Whether a chat turn or another interactive writer waits for SQLite's writer: a
    background batch then commits what it has and lets it go first."""
    turns = _turns(engine)
    return turns is not None and turns.interactive_waiting


def _turns(engine: AsyncEngine) -> WriterTurns | None:
    if engine.dialect.name != "sqlite":
        return None
    turns = _WRITER_TURNS.get(engine.sync_engine)
    if turns is None:
        turns = _WRITER_TURNS[engine.sync_engine] = WriterTurns()
    return turns


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
