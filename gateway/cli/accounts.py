"""Accounts and codes: `accounts import`, `accounts add`, `code`, `staff add`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.accounts.records import ImportRejected, account_record, parse_accounts
from gateway.accounts.store import upsert_accounts
from gateway.codes.issuing import UnknownLogin, UnknownTicket, issue_panel_code
from gateway.codes.totp import provisioning_uri
from gateway.config import Settings
from gateway.core import open_core
from gateway.staff.users import StaffUserError, add_staff_user

PANEL_ISSUER = "Client Panel"


def register(commands: Any) -> None:
    accounts = commands.add_parser("accounts", help="client accounts")
    sub = accounts.add_subparsers(dest="accounts_command", required=True)
    importing = sub.add_parser("import", help="import a JSON array or JSON Lines file")
    importing.add_argument("file", type=Path)
    importing.set_defaults(handler=import_accounts)

    adding = sub.add_parser("add", help="add one account; prints its otpauth:// URI")
    adding.add_argument("--login", required=True)
    adding.add_argument("--email", required=True)
    adding.add_argument("--service", action="append", default=[])
    numbers = adding.add_mutually_exclusive_group()
    numbers.add_argument("--pesel")
    numbers.add_argument("--nip")
    numbers.add_argument("--regon")
    adding.add_argument("--name", default="")
    adding.add_argument("--language", choices=["pl", "en"], default="pl")
    adding.set_defaults(handler=add_account)

    code = commands.add_parser("code", help="print a fresh single-use panel code for LOGIN")
    code.add_argument("login")
    code.add_argument("--ticket")
    code.set_defaults(handler=print_code)

    staff = commands.add_parser("staff", help="staff users")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    staff_add = staff_sub.add_parser("add", help="add a staff user; prints its otpauth:// URI")
    staff_add.add_argument("username")
    staff_add.add_argument("--password-file", type=Path, required=True)
    staff_add.set_defaults(handler=add_staff)


def _fail(message: str) -> int:
    print(f"gateway: {message}", file=sys.stderr)
    return 1


async def import_accounts(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    try:
        records = parse_accounts(text)
    except ImportRejected as exc:
        for problem in exc.problems:
            print(f"{args.file}:{problem.line}: {problem.reason}", file=sys.stderr)
        return _fail(f"nothing imported: {len(exc.problems)} bad record(s)")
    async with open_core(settings) as core, core.sessions.begin() as session:
        await upsert_accounts(session, core.keys.identifier, records, core.clock)
    print(f"imported {len(records)}")
    return 0


async def add_account(args: argparse.Namespace, settings: Settings) -> int:
    fields = {
        "login": args.login,
        "email": args.email,
        "services": args.service,
        "pesel": args.pesel,
        "nip": args.nip,
        "regon": args.regon,
        "name": args.name,
        "language": args.language,
    }
    try:
        record = account_record(fields)
    except ValueError as exc:
        return _fail(str(exc))
    async with open_core(settings) as core, core.sessions.begin() as session:
        (account,) = await upsert_accounts(session, core.keys.identifier, [record], core.clock)
        secret = account.totp_secret
    print(provisioning_uri(secret, record.login, PANEL_ISSUER))
    return 0


async def print_code(args: argparse.Namespace, settings: Settings) -> int:
    async with open_core(settings) as core:
        try:
            async with core.sessions.begin() as session:
                issued = await issue_panel_code(
                    session, core.keys.secret, core.clock, args.login, args.ticket
                )
        except UnknownLogin:
            return _fail(f"unknown login {args.login!r}")
        except UnknownTicket:
            return _fail(f"unknown ticket {args.ticket!r}")
    print(issued.code)
    return 0


async def add_staff(args: argparse.Namespace, settings: Settings) -> int:
    try:
        password = args.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.password_file}: {exc}")
    async with open_core(settings) as core:
        try:
            async with core.sessions.begin() as session:
                uri = await add_staff_user(session, core.clock, args.username, password)
        except StaffUserError as exc:
            return _fail(str(exc))
    print(uri)
    return 0
