"""Shared fixtures: real databases (SQLite file and PostgreSQL), real app factory, a clock that
tests move by hand."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.config import Settings, replace
from tests.live import ChatClient, LiveGateway
from tests.services import POSTGRES_URL, REDIS_URL, postgres_database

REQUIRE_SERVICES = os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1"


class MovableClock:
    """Starts at the real time (TOTP codes must match pyotp's idea of now) and moves on demand."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, **delta: float) -> None:
        self._offset += timedelta(**delta)


def _postgres_reachable() -> str | None:
    async def probe() -> None:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    problem = _postgres_reachable()
    if problem is None:
        return True
    if REQUIRE_SERVICES:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {problem}")
    return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[str]:
    """Every test that touches storage runs on both databases."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    if not postgres_available:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL} (set GATEWAY_REQUIRE_SERVICES=1)")
    with postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return replace(
        Settings(),
        data={"dir": str(tmp_path / "var")},
        database={"url": database_url},
        outbound={"smtp": f"maildir:{tmp_path / 'outbox'}", "sender": "support@example.net"},
        staff={"mailbox": "staff@example.net"},
        smtp={"port": 0},  # any free port: the live app starts its SMTP listener too
        metrics={"port": 0},  # and its metrics listener
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def core(settings: Settings, clock: MovableClock) -> AsyncIterator[object]:
    from gateway.cli.operate import migrate
    from gateway.core import open_core

    await migrate(settings)
    async with open_core(settings, clock) as opened:
        yield opened


def _redis_problem() -> str | None:
    async def probe() -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            await asyncio.wait_for(redis.ping(), 3)
        finally:
            await redis.aclose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def services(postgres_available: bool) -> None:
    problem = _redis_problem()
    if problem is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis at {REDIS_URL} is required but unreachable: {problem}")
        pytest.skip(f"Redis unreachable at {REDIS_URL} (set GATEWAY_REQUIRE_SERVICES=1)")
    if not postgres_available:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL} (set GATEWAY_REQUIRE_SERVICES=1)")


@pytest.fixture
async def visitor(gateway: LiveGateway) -> AsyncIterator[ChatClient]:
    """A chat visitor connected to the test's live `gateway`."""
    client = await ChatClient(gateway.url).connect()
    try:
        yield client
    finally:
        await client.close()
