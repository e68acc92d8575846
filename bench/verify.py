"""Verifications per second through the real CodeVerifier on SQLite and PostgreSQL, against the
bare cost of pyotp.TOTP.verify measured in the same run (the ratio's denominator).

Each verification is what a client's code costs the gateway: a transaction that locks the
account row, checks the code over the channel's window, advances the stored step (replay
protection) and commits.
Run: .venv/bin/python bench/verify.py [--accounts 2000] [--concurrency 1 10]
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
from pathlib import Path

import pyotp
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.cli.operate import migrate  # noqa: E402
from gateway.codes.totp import CHAT_WINDOW, new_secret  # noqa: E402
from gateway.config import Settings, replace  # noqa: E402
from gateway.core import open_core  # noqa: E402
from gateway.storage.models import Account  # noqa: E402
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()

    bare = bare_verify_per_second()
    print(f"bare pyotp.TOTP.verify(valid_window=1): {bare:,.0f}/s ({1e6 / bare:.1f} µs each)")
    print()
    print("| database | concurrency | verifications/s | gateway / bare |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency:
            workdir = Path(tmp) / f"sqlite-{concurrency}"
            url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            rate = await measure(url, workdir, args.accounts, concurrency)
            print(f"| SQLite | {concurrency} | {rate:,.0f} | {rate / bare:.4f} |")
        for concurrency in args.concurrency:
            name = f"gw_bench_{uuid.uuid4().hex[:8]}"
            try:
                await admin(POSTGRES, f'CREATE DATABASE "{name}"')
            except Exception as exc:  # noqa: BLE001 - report and carry on
                print(f"| PostgreSQL | {concurrency} | unavailable: {type(exc).__name__} | |")
                continue
            try:
                base = POSTGRES.rpartition("/")[0]
                workdir = Path(tmp) / f"pg-{concurrency}"
                rate = await measure(f"{base}/{name}", workdir, args.accounts, concurrency)
                print(f"| PostgreSQL | {concurrency} | {rate:,.0f} | {rate / bare:.4f} |")
            finally:
                await admin(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
