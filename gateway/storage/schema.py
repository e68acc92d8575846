"""Schema migrations through Alembic, run on our own engine and event loop."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(Exception):
    """The database is older (or newer) than this code; `gateway db upgrade` fixes the former."""


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))


def _revisions(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(_config(connection)).get_current_head()
    return current, head


async def ensure_current(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        current, head = await connection.run_sync(_revisions)
    if current != head:
        found = current or "empty"
        raise SchemaOutOfDate(
            f"database schema is out of date ({found}, code expects {head}): "
            "run `gateway db upgrade`"
        )
