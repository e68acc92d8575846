"""The schema: Alembic's migrations are the models, and `serve` refuses an old database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.config import Settings
from gateway.core import Core
from gateway.storage.models import Base


async def test_migrations_create_exactly_the_models(core: Core) -> None:
    def differences(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with core.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_serve_refuses_an_empty_database(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[data]\ndir = "{settings.data.dir}"\n[database]\nurl = "{settings.database.url}"\n'
        f'[outbound]\nsmtp = "{settings.outbound.smtp}"\n[http]\nport = 0\n[metrics]\nport = 0\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if "gateway db upgrade" in line
    ]
