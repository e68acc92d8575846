"""Stage 1: which accounts could the client be, given the service or number they named.

The answer never reaches the client: an unknown service or number walks on to stage 2 exactly as
a known one does and fails there like a wrong code, so the dialogue cannot be used to learn who
is a client.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.identifiers import FoundIdentifier, IdentifierKind, identifier_digest
from gateway.service_names import normalize_service_name
from gateway.storage.models import Account, AccountService

IDENTIFIER_COLUMNS = {
    IdentifierKind.PESEL: Account.pesel_hash,
    IdentifierKind.NIP: Account.nip_hash,
    IdentifierKind.REGON: Account.regon_hash,
}
BY_SERVICE = "service"
BY_LOGIN = "login"


@dataclass(frozen=True, slots=True)
class Identification:
    """What stage 1 settled: how the client identified, and the keyed hash if by number."""

    identified_by: str
    service: str | None = None
    identifier_hash: str | None = None


def by_service(name: str) -> Identification:
    return Identification(BY_SERVICE, service=normalize_service_name(name))


def by_identifier(identifier_key: bytes, found: FoundIdentifier) -> Identification:
    digest = identifier_digest(identifier_key, found.kind, found.value)
    return Identification(found.kind.value, identifier_hash=digest)


async def holders(
    session: AsyncSession, identified_by: str | None, service: str | None, digest: str | None
) -> frozenset[int] | None:
    """Accounts allowed to verify; None when stage 1 was skipped and the login alone decides."""
    if identified_by == BY_SERVICE and service:
        rows = await session.scalars(
            select(AccountService.account_id).where(AccountService.name == service)
        )
        return frozenset(rows)
    for kind, column in IDENTIFIER_COLUMNS.items():
        if identified_by == kind.value and digest:
            return frozenset(await session.scalars(select(Account.id).where(column == digest)))
    if identified_by in (None, BY_LOGIN):
        return None
    return frozenset()
