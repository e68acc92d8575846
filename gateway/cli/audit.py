"""`audit verify`, `audit export TICKET`, `policies check [DIR]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.audit.agreement import first_disagreement
from gateway.audit.chain import verify_chain
from gateway.audit.export import UnknownTicket, export_ticket
from gateway.audit.witness import (
    Head,
    heads_in,
    malformed_heads,
    marker_problem,
    witness_problem,
    witness_text,
)
from gateway.config import Settings
from gateway.core import open_core
from policies import bundled_path, check


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="the verification and action records")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    verifying = sub.add_parser("verify", help="check the whole hash chain")
    verifying.add_argument(
        "--witness",
        type=Path,
        action="append",
        default=[],
        help="a file holding witnessed chain heads (the witness file, saved staff mails, a "
        "webhook log): each must still be in the database",
    )
    verifying.set_defaults(handler=verify)
    exporting = sub.add_parser("export", help="print one ticket's evidence bundle as JSON")
    exporting.add_argument("ticket")
    exporting.set_defaults(handler=export)

    policies = commands.add_parser("policies", help="policy files")
    policies_sub = policies.add_subparsers(dest="policies_command", required=True)
    checking = policies_sub.add_parser("check", help="validate policy files")
    checking.add_argument("dir", nargs="?", type=Path)
    checking.set_defaults(handler=check_policies)


async def verify(args: argparse.Namespace, settings: Settings) -> int:
    """The chain link by link, then every request row the views read against it."""
    heads = []
    for path in args.witness:
        try:
            text = witness_text(path.read_bytes())
        except OSError as exc:
            print(f"gateway: witness {path} cannot be read: {exc.strerror}", file=sys.stderr)
            return 1
        found, damaged = heads_in(text), malformed_heads(text)
        if damaged or not found:
            what = f"{damaged} damaged chain-head lines" if damaged else "no chain-head token"
            print(f"gateway: witness {path} holds {what}", file=sys.stderr)
            return 1
        heads += found
    try:
        return await _verify(args, settings, heads)
    except (ValueError, TypeError) as exc:  # a value no gateway wrote: a date that is no date
        print(
            f"gateway: a row cannot be read ({type(exc).__name__}: {exc}): edited outside "
            "the gateway?",
            file=sys.stderr,
        )
        return 1


async def _verify(args: argparse.Namespace, settings: Settings, heads: list[Head]) -> int:
    async with open_core(settings) as core, core.sessions() as session:
        report = await verify_chain(session, core.keys)
        rows = await first_disagreement(session) if report.intact else None
        witnessed = None
        if report.intact:
            witnessed = await witness_problem(session, core.keys, heads) or await marker_problem(
                session, core.keys
            )
    if not report.intact:
        print(f"gateway: chain broken at {report.problem}", file=sys.stderr)
        return 1
    for problem in (witnessed, rows and f"a row differs from the chain: {rows}"):
        if problem:
            print(f"gateway: {problem}", file=sys.stderr)
            return 1
    suffix = f"; {len(set(heads))} witnessed heads present" if args.witness else ""
    print(f"ok {report.count} records{suffix}")
    return 0


async def export(args: argparse.Namespace, settings: Settings) -> int:
    async with open_core(settings) as core, core.sessions() as session:
        try:
            bundle = await export_ticket(session, core.keys, args.ticket)
        except UnknownTicket:
            print(f"gateway: unknown ticket {args.ticket!r}", file=sys.stderr)
            return 1
    print(json.dumps(bundle, ensure_ascii=False, indent=2))
    return 0


def check_policies(args: argparse.Namespace, settings: Settings) -> int:
    folder = args.dir or (Path(settings.policies.path) if settings.policies.path else None)
    problems = check(folder or bundled_path())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"ok {folder or bundled_path()}")
    return 0
