"""Stage 1: which accounts could the client be, given the service or number they named.

The answer never reaches the client: an unknown service or number walks on to stage 2 exactly as
a known one does and fails there like a wrong code, so the dialogue cannot be used to learn who
is a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.identifiers import FoundIdentifier, IdentifierKind, identifier_digest
from gateway.pipeline.scope import scope_of
from gateway.service_names import is_service_id, normalize_service_name
from gateway.storage.models import Account, AccountService, ChangeRequest

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
    session: AsyncSession,
    identified_by: str | None,
    services: Sequence[str],
    digest: str | None,
    destinations: Sequence[str] = (),
) -> frozenset[int] | None:
    """Accounts allowed to verify; None when stage 1 was skipped and the login alone decides.

    By service: the accounts that hold every service the request names, so that naming one's
    own service first cannot carry a change of someone else's. A name under a held domain
    ("mail.example.pl", "_dmarc.example.pl", the mailbox "ceo@example.pl") is that domain's. A
    domain under no held one is not one of ours but somewhere the request points (an outside
    name server, say); a service id always is one of ours. One query, whatever exists."""
    if identified_by == BY_SERVICE and services:
        mailboxes = [address.rpartition("@")[2] for address in destinations if "@" in address]
        names = list(dict.fromkeys((*services, *mailboxes)))
        lookups = {name: _held_forms(name) for name in names}
        rows = await session.execute(
            select(AccountService.name, AccountService.account_id).where(
                AccountService.name.in_({form for forms in lookups.values() for form in forms})
            )
        )
        held: dict[str, set[int]] = {}
        for name, account_id in rows:
            held.setdefault(name, set()).add(account_id)
        ours: list[set[int]] = []
        for name, forms in lookups.items():
            holding = next((held[form] for form in forms if form in held), None)
            if holding is not None:
                ours.append(holding)
            elif is_service_id(name):
                ours.append(set())
        return frozenset(set.intersection(*ours)) if ours else frozenset()
    for kind, column in IDENTIFIER_COLUMNS.items():
        if identified_by == kind.value and digest:
            return frozenset(await session.scalars(select(Account.id).where(column == digest)))
    if identified_by in (None, BY_LOGIN):
        return None
    return frozenset()


def _held_forms(name: str) -> tuple[str, ...]:
    """The name and every domain above it that could be held, nearest first: "a.b.example.pl"
    → itself, "b.example.pl", "example.pl" (a bare TLD is never a service)."""
    if is_service_id(name):
        return (name,)
    labels = normalize_service_name(name).split(".")
    return tuple(".".join(labels[start:]) for start in range(len(labels) - 1))


async def holders_of(session: AsyncSession, request: ChangeRequest) -> frozenset[int] | None:
    """`holders` of what the request names."""
    scope = scope_of(request)
    return await holders(
        session, request.identified_by, scope.services, request.identifier_hash, scope.destinations
    )
