"""`gateway`: the operator's command line (contract section 2).

Usage and configuration errors are one line on stderr and exit 2; other failures exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError

from gateway.cli import accounts, audit, mail, operate, retention
from gateway.config import ConfigError, Settings, load_settings
from gateway.outbox.transports import OutboundConfigError
from gateway.storage.schema import SchemaOutOfDate
from policies import PolicyError

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int] | int]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description="Security gateway for support channels.")
    parser.add_argument("--config", type=Path, help="TOML file (default ./gateway.toml if present)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    operate.register(commands)
    accounts.register(commands)
    audit.register(commands)
    retention.register(commands)
    mail.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings(args.config)
        command: Command = args.handler
        result = command(args, settings)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ConfigError, OutboundConfigError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except SchemaOutOfDate as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        print(f"gateway: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
