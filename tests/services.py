"""The machine's PostgreSQL and Redis, for tests and the multi-node benches: where they are,
and databases of their own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def admin(postgres_url: str, statement: str) -> None:
    engine = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the server of `postgres_url`, dropped afterwards."""
    name = f"gw_{uuid.uuid4().hex[:16]}"
    asyncio.run(admin(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
