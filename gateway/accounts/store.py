"""Writing accounts: upsert by login in one transaction, identifiers only as keyed hashes."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.accounts.mentions import store_keys
from gateway.accounts.records import AccountRecord
from gateway.clock import Clock
from gateway.codes.totp import new_secret
from gateway.identifiers import IdentifierKind, identifier_digest
from gateway.storage.models import Account, AccountService

CHUNK = 500


async def upsert_accounts(
    session: AsyncSession, identifier_key: bytes, records: list[AccountRecord], clock: Clock
) -> list[Account]:
    """Create or update each record's account within the caller's transaction. A record without
    a TOTP secret keeps the account's existing one (or gets a new one if it has none)."""
    existing: dict[str, Account] = {}
    for start in range(0, len(records), CHUNK):
        logins = [record.login for record in records[start : start + CHUNK]]
        found = await session.scalars(select(Account).where(Account.login.in_(logins)))
        existing.update((account.login, account) for account in found)
    accounts = []
    for record in records:
        account = existing.get(record.login)
        if account is None:
            account = Account(
                login=record.login,
                failed_attempts=0,
                created_at=clock.now(),
                totp_secret=record.totp_secret or new_secret(),
            )
            session.add(account)
        elif record.totp_secret:
            account.totp_secret = record.totp_secret
            account.last_totp_step = None
        account.name, account.email, account.language = record.name, record.email, record.language
        account.pesel_hash = _digest(identifier_key, IdentifierKind.PESEL, record.pesel)
        account.nip_hash = _digest(identifier_key, IdentifierKind.NIP, record.nip)
        account.regon_hash = _digest(identifier_key, IdentifierKind.REGON, record.regon)
        accounts.append(account)
    await session.flush()
    ids = [account.id for account in accounts]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        await session.execute(delete(AccountService).where(AccountService.account_id.in_(chunk)))
    for account, record in zip(accounts, records, strict=True):
        session.add_all(
            AccountService(account_id=account.id, name=name) for name in record.services
        )
        await store_keys(session, account.id, record.login, record.name, record.services)
    await session.flush()
    return accounts


def _digest(key: bytes, kind: IdentifierKind, digits: str | None) -> str | None:
    return identifier_digest(key, kind, digits) if digits else None
