from __future__ import annotations

import pytest

from gateway.accounts.records import account_record
from gateway.accounts.store import upsert_accounts
from gateway.core import Core

JAN_SECRET = "JBSWY3DPEHPK3PXP"
ANNA_SECRET = "KRSXG5CTMVRXEZLU"
CLIENTS = [
    {
        "login": "jan.kowalski",
        "name": "Jan Kowalski",
        "email": "jan@example.com",
        "services": ["example.pl", "vps-1234"],
        "pesel": "44051401359",
        "totp_secret": JAN_SECRET,
        "language": "pl",
    },
    {
        "login": "anna.nowak",
        "email": "anna@example.com",
        "services": ["anna.example", "sklep-anny.pl"],
        "nip": "1234563218",
        "totp_secret": ANNA_SECRET,
        "language": "en",
    },
]


async def seed_clients(core: Core) -> dict[str, int]:
    async with core.sessions.begin() as session:
        accounts = await upsert_accounts(
            session, core.keys.identifier, [account_record(c) for c in CLIENTS], core.clock
        )
        return {account.login: account.id for account in accounts}


@pytest.fixture
async def clients(core: Core) -> dict[str, int]:
    """Two client accounts; returns login → account id."""
    return await seed_clients(core)
