"""Verifications per second through the real CodeVerifier on SQLite and PostgreSQL, against the
bare cost of pyotp.TOTP.verify measured in the same run (the ratio's denominator); then whole
verification turns through the pipeline: a code typed in the chat's form beside an approval in
the Client Panel (contract section 11), each verifying one held request and forwarding it.

Each verification is what a client's code costs the gateway: a transaction that locks the
account row, checks the code over the channel's window, advances the stored step (replay
protection) and commits. A turn adds the rest: the conversation locked, the request checked
(seal, hold, holders, mentions), the record chained, the staff deliveries queued.
Run: .venv/bin/python bench/verify.py [--accounts 2000] [--requests 300] [--concurrency 1 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyotp
from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.accounts.records import account_record  # noqa: E402
from gateway.accounts.store import upsert_accounts  # noqa: E402
from gateway.cli.operate import migrate  # noqa: E402
from gateway.codes.totp import CHAT_WINDOW, new_secret  # noqa: E402
from gateway.config import Settings, replace  # noqa: E402
from gateway.core import open_core  # noqa: E402
from gateway.credentials import Credentials  # noqa: E402
from gateway.pipeline.model import Inbound, PanelChoice, PanelDecision, PanelOutcome  # noqa: E402
from gateway.storage.models import Account, ApprovalChallenge, ChangeRequest  # noqa: E402
from policies import Channel  # noqa: E402
from tests.services import admin  # noqa: E402

POSTGRES = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def bare_verify_per_second(reps: int = 5, number: int = 5000) -> float:
    totp = pyotp.TOTP(pyotp.random_base32())
    code = totp.now()
    runs = timeit.repeat(lambda: totp.verify(code, valid_window=1), repeat=reps, number=number)
    return number / statistics.median(runs)


async def measure(url: str, workdir: Path, accounts: int, concurrency: int) -> float:
    settings = replace(
        Settings(),
        data={"dir": str(workdir / "var")},
        database={"url": url},
        outbound={"smtp": f"maildir:{workdir / 'outbox'}"},
    )
    await migrate(settings)
    secrets = [new_secret() for _ in range(accounts)]
    async with open_core(settings) as core:
        now = core.clock.now()
        async with core.sessions.begin() as session:
            await session.execute(
                insert(Account),
                [
                    {
                        "login": f"bench-{i}-{uuid.uuid4().hex[:6]}",
                        "email": "b@example.com",
                        "totp_secret": s,
                        "failed_attempts": 0,
                        "created_at": now,
                        "name": "",
                        "language": "en",
                    }
                    for i, s in enumerate(secrets)
                ],
            )
            logins = list(await session.scalars(text("SELECT login FROM accounts ORDER BY id")))
        codes = [pyotp.TOTP(s).now() for s in secrets]
        queue = list(zip(logins, codes, strict=True))
        accepted = 0

        async def worker() -> None:
            nonlocal accepted
            while queue:
                login, code = queue.pop()
                async with core.sessions.begin() as session:
                    check = await core.verifier.check(
                        session, login, code, window=CHAT_WINDOW, ticket=None, holders=None
                    )
                accepted += check.accepted

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if accepted < accounts * 0.99:  # a TOTP step may roll over mid-run for a few codes
        raise SystemExit(f"only {accepted} of {accounts} verifications were accepted")
    return accounts / elapsed


async def measure_turns(
    url: str, workdir: Path, requests: int, concurrency: int
) -> tuple[float, float]:
    """(approvals/s, code verifications/s) of whole turns, each on a request held for it."""
    settings = replace(
        Settings(),
        data={"dir": str(workdir / "var")},
        database={"url": url},
        outbound={"smtp": f"maildir:{workdir / 'outbox'}"},
    )
    await migrate(settings)
    async with open_core(settings) as core:
        records = [
            account_record(
                {
                    "login": f"bench-{i}",
                    "email": f"b{i}@example.com",
                    "services": [f"svc{i}.example"],
                    "totp_secret": new_secret(),
                    "language": "en",
                }
            )
            for i in range(2 * requests)
        ]
        async with core.sessions.begin() as session:
            await upsert_accounts(session, core.keys.identifier, records, core.clock)
        held: list[tuple[str, str, str]] = []  # conversation, login, secret
        for n, record in enumerate(records):
            # A client each (one address opens only so many challenges an hour).
            address = f"10.{n // 250}.{n % 250}.1"
            opened = await core.pipeline.open_conversation(Channel.CHAT, address, "en")
            conversation = opened.status.conversation
            text = f"Please transfer {record.services[0]} to another registrar"
            await core.pipeline.handle(Inbound(Channel.CHAT, conversation, text))
            held.append((conversation, record.login, record.totp_secret))
        async with core.sessions() as session:
            rows = await session.execute(
                select(
                    ChangeRequest.conversation_id,
                    ApprovalChallenge.public_id,
                    ApprovalChallenge.number,
                )
                .join(ApprovalChallenge, ApprovalChallenge.request_id == ChangeRequest.id)
                .where(ApprovalChallenge.status == "pending")
            )
            challenges = {
                conversation: (public_id, number) for conversation, public_id, number in rows
            }
        by_approval, by_code = held[:requests], held[requests:]

        async def approve(conversation: str, login: str, _: str) -> bool:
            public_id, number = challenges[conversation]
            command = PanelDecision(conversation, public_id, login, PanelChoice.APPROVE, number)
            answer = (await core.pipeline.handle(command)).panel
            return answer is not None and answer.outcome is PanelOutcome.APPROVED

        async def type_code(conversation: str, login: str, secret: str) -> bool:
            form = Credentials(login=login, code=pyotp.TOTP(secret).now())
            outcome = await core.pipeline.handle(
                Inbound(Channel.CHAT, conversation, credentials=form)
            )
            return bool(outcome.verified)

        rates = [
            await _rate(by_approval, approve, concurrency),
            await _rate(by_code, type_code, concurrency),
        ]
    return rates[0], rates[1]


async def _rate(
    work: list[tuple[str, str, str]],
    turn: Callable[[str, str, str], Awaitable[bool]],
    concurrency: int,
) -> float:
    queue, done = list(work), 0

    async def worker() -> None:
        nonlocal done
        while queue:
            verified = await turn(*queue.pop())  # awaited first: `done +=` would read it stale
            done += verified

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if done < len(work) * 0.99:
        raise SystemExit(f"only {done} of {len(work)} turns verified")
    return len(work) / elapsed


async def each_database(
    tmp: Path, tag: str, concurrency: int, run: Callable[[str, Path], Awaitable[str]]
) -> None:
    """Print `run`'s row on SQLite, then on a fresh PostgreSQL database (dropped after)."""
    workdir = Path(tmp) / f"{tag}-sqlite-{concurrency}"
    sqlite = "sqlite+aiosqlite:///" + str(workdir / "bench.db")
    print(f"| SQLite | {concurrency} | {await run(sqlite, workdir)} |")
    name = f"gw_bench_{uuid.uuid4().hex[:8]}"
    try:
        await admin(POSTGRES, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - report and carry on
        print(f"| PostgreSQL | {concurrency} | unavailable: {type(exc).__name__} |")
        return
    try:
        base = POSTGRES.rpartition("/")[0]
        workdir = Path(tmp) / f"{tag}-pg-{concurrency}"
        print(f"| PostgreSQL | {concurrency} | {await run(f'{base}/{name}', workdir)} |")
    finally:
        await admin(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    bare = bare_verify_per_second()
    print(f"bare pyotp.TOTP.verify(valid_window=1): {bare:,.0f}/s ({1e6 / bare:.1f} µs each)")
    print()
    print("| database | concurrency | verifications/s | gateway / bare |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency:

            async def checks(url: str, workdir: Path, concurrency: int = concurrency) -> str:
                rate = await measure(url, workdir, args.accounts, concurrency)
                return f"{rate:,.0f} | {rate / bare:.4f}"

            await each_database(Path(tmp), "codes", concurrency, checks)
        print()
        print("Whole verification turns (held request → verified, recorded, queued for staff):")
        print()
        print("| database | concurrency | panel approvals/s | chat codes/s | approval / code |")
        print("|---|---|---|---|---|")
        for concurrency in args.concurrency:

            async def turns(url: str, workdir: Path, concurrency: int = concurrency) -> str:
                approvals, codes = await measure_turns(url, workdir, args.requests, concurrency)
                return f"{approvals:,.0f} | {codes:,.0f} | {approvals / codes:.2f}"

            await each_database(Path(tmp), "turns", concurrency, turns)


if __name__ == "__main__":
    asyncio.run(main())
