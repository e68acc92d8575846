"""`retention purge [--dry-run]`: what an operator runs daily (a systemd timer, cron)."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.config import Settings
from gateway.core import open_core
from gateway.retention import purge_expired


def register(commands: Any) -> None:
    retention = commands.add_parser("retention", help="client content past its retention period")
    sub = retention.add_subparsers(dest="retention_command", required=True)
    purging = sub.add_parser(
        "purge", help="remove transcripts and raw messages past retention.* days"
    )
    purging.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    purging.set_defaults(handler=purge)


async def purge(args: argparse.Namespace, settings: Settings) -> int:
    async with open_core(settings) as core:
        report = await purge_expired(
            core.engine, core.clock, settings.retention, dry_run=args.dry_run
        )
    print(report.summary())
    return 0
