"""Approval challenges: a held request offered to its account holder in the Client Panel.

A challenge is bound to one request and one account, carries a short number shown only to
whoever asked (so the approval comes from the conversation the client is in), lives a few
minutes, and is decided once: every change of its status is a compare-and-set on the row, so
two nodes deciding at once cannot both win. At most one is pending per account (a unique
partial index backs it), so nobody can bomb a client with prompts.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.chain import sha256_hex
from gateway.clock import Clock
from gateway.config import ApprovalsSettings
from gateway.pipeline.model import ApprovalPrompt, RequestStatus, Stage
from gateway.storage.models import Account, ApprovalChallenge, ChangeRequest, Conversation

MAX_WRONG_NUMBERS = 3
MAX_HOLDERS = 5  # accounts one request is offered to (a service held jointly)


class ChallengeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    VOID = "void"  # three wrong numbers
    REPLACED = "replaced"  # a newer one for the same account or the same request


@dataclass(frozen=True, slots=True)
class Offer:
    """One challenge as the panel lists it, with what it is for."""

    challenge: ApprovalChallenge
    request: ChangeRequest
    conversation: Conversation
    account: Account


class Challenges:
    def __init__(self, settings: ApprovalsSettings, clock: Clock) -> None:
        self._digits = settings.digits
        self._ttl = timedelta(seconds=settings.ttl_seconds)
        self._clock = clock

    def new_number(self, unlike: Collection[str] = ()) -> str:
        """A random number, unlike those it replaces: a number shown for a replaced request
        must never approve the one that replaced it."""
        space = 10**self._digits
        for _ in range(32):
            number = f"{secrets.randbelow(space):0{self._digits}d}"
            if number not in unlike:
                return number
        return number

    async def open(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        offers: Sequence[tuple[int | None, str]],
    ) -> tuple[ApprovalPrompt, list[ApprovalChallenge]]:
        """A new challenge for the request, offered to each (account, description) given; an
        offer with no account is the stand-in for a request no account holds. Older pending
        ones of the request and of those accounts are replaced. The same statements run
        whether or not any account holds the request.

        The requester whose number is replaced is not told: what one conversation shows must
        not depend on what another names, or two conversations would tell anyone which
        services, people and companies are one client's. Their number simply approves
        nothing now (`shown`), and the holder, in the panel, sees the newer request."""
        now = self._clock.now()
        expires_at = now + self._ttl
        accounts = [account for account, _ in offers if account is not None]
        # Serialise with any other node opening one for the same account (PostgreSQL).
        await session.execute(select(Account.id).where(Account.id.in_(accounts)).with_for_update())
        recent = await session.scalars(
            select(ApprovalChallenge.number).where(
                ApprovalChallenge.account_id.in_(accounts),
                ApprovalChallenge.expires_at > now,
                ApprovalChallenge.status.in_((ChallengeStatus.PENDING, ChallengeStatus.REPLACED)),
            )
        )
        number = self.new_number(unlike=set(recent))
        await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.status == ChallengeStatus.PENDING,
                (ApprovalChallenge.request_id == request.id)
                | ApprovalChallenge.account_id.in_(accounts),
            )
            .values(status=ChallengeStatus.REPLACED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        opened = []
        for account, description in offers[:MAX_HOLDERS]:
            opened.append(
                ApprovalChallenge(
                    public_id=secrets.token_urlsafe(16),
                    request_id=request.id,
                    account_id=account,
                    number=number,
                    description_sha256=sha256_hex(description),
                    status=ChallengeStatus.PENDING,
                    attempts=0,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        session.add_all(opened)
        await session.flush()
        return ApprovalPrompt(number, expires_at), opened

    async def opened_for(self, session: AsyncSession, request_id: int) -> int:
        query = select(ApprovalChallenge.id).where(ApprovalChallenge.request_id == request_id)
        return len(list(await session.scalars(query)))

    async def pending(self, session: AsyncSession, request_id: int) -> ApprovalChallenge | None:
        """The request's live challenge (any one of its rows: they share the number)."""
        return await session.scalar(
            select(ApprovalChallenge)
            .where(
                ApprovalChallenge.request_id == request_id,
                ApprovalChallenge.status == ChallengeStatus.PENDING,
                ApprovalChallenge.expires_at > self._clock.now(),
            )
            .order_by(ApprovalChallenge.id)
            .limit(1)
        )

    async def shown(self, session: AsyncSession, request_id: int) -> ApprovalChallenge | None:
        """What the request's requester goes on seeing: its live challenge, or the one a newer
        request for the same account replaced, until it would have expired (it approves
        nothing)."""
        latest = await session.scalar(
            select(ApprovalChallenge)
            .where(
                ApprovalChallenge.request_id == request_id,
                ApprovalChallenge.expires_at > self._clock.now(),
            )
            .order_by(ApprovalChallenge.id.desc())
            .limit(1)
        )
        live = (ChallengeStatus.PENDING, ChallengeStatus.REPLACED)
        return latest if latest is not None and latest.status in live else None

    async def replaced_number(self, session: AsyncSession, account_id: int, number: str) -> bool:
        """Whether the number is one this account's requesters were shown for a challenge a
        newer one replaced: the holder typed the number of the other request."""
        found = await session.scalar(
            select(ApprovalChallenge.id).where(
                ApprovalChallenge.account_id == account_id,
                ApprovalChallenge.status == ChallengeStatus.REPLACED,
                ApprovalChallenge.expires_at > self._clock.now(),
                ApprovalChallenge.number == number,
            )
        )
        return found is not None

    async def opened_by(self, session: AsyncSession, client: str, since: datetime) -> int:
        """Challenges opened for requests of conversations with this requester since then."""
        query = (
            select(func.count(ApprovalChallenge.id))
            .join(ChangeRequest, ChangeRequest.id == ApprovalChallenge.request_id)
            .join(Conversation, Conversation.id == ChangeRequest.conversation_id)
            .where(Conversation.client == client, ApprovalChallenge.created_at > since)
        )
        return int(await session.scalar(query) or 0)

    async def last_status(self, session: AsyncSession, request_id: int) -> str | None:
        return await session.scalar(
            select(ApprovalChallenge.status)
            .where(ApprovalChallenge.request_id == request_id)
            .order_by(ApprovalChallenge.id.desc())
            .limit(1)
        )

    async def prompt(
        self, session: AsyncSession, conversation: Conversation
    ) -> ApprovalPrompt | None:
        """What the requester is shown now: the active request's live number, if any."""
        if conversation.stage != Stage.AUTHENTICATE or conversation.active_request_id is None:
            return None
        found = await self.shown(session, conversation.active_request_id)
        return ApprovalPrompt(found.number, found.expires_at) if found else None

    async def conversation_of(self, session: AsyncSession, public_id: str) -> str | None:
        """The conversation a challenge's decision is a turn of."""
        return await session.scalar(
            select(ChangeRequest.conversation_id)
            .join(ApprovalChallenge, ApprovalChallenge.request_id == ChangeRequest.id)
            .where(ApprovalChallenge.public_id == public_id)
        )

    async def login_exists(self, session: AsyncSession, login: str) -> bool:
        return (await session.scalar(select(Account.id).where(Account.login == login))) is not None

    async def find(self, session: AsyncSession, public_id: str) -> ApprovalChallenge | None:
        return await session.scalar(
            select(ApprovalChallenge).where(ApprovalChallenge.public_id == public_id)
        )

    async def offers(self, session: AsyncSession, login: str) -> list[Offer]:
        """What the panel lists for a login: its live challenges of requests still held and
        worked on in their conversation."""
        rows = await session.execute(
            select(ApprovalChallenge, ChangeRequest, Conversation, Account)
            .join(ChangeRequest, ChangeRequest.id == ApprovalChallenge.request_id)
            .join(Conversation, Conversation.id == ChangeRequest.conversation_id)
            .join(Account, Account.id == ApprovalChallenge.account_id)
            .where(
                Account.login == login,
                ApprovalChallenge.status == ChallengeStatus.PENDING,
                ApprovalChallenge.expires_at > self._clock.now(),
                ChangeRequest.status == RequestStatus.HELD,
                Conversation.active_request_id == ChangeRequest.id,
                Conversation.stage == Stage.AUTHENTICATE,
            )
            .order_by(ApprovalChallenge.id)
        )
        return [Offer(*row) for row in rows]

    async def settle(
        self, session: AsyncSession, challenge: ApprovalChallenge, status: ChallengeStatus
    ) -> bool:
        """Decide a pending challenge; False when another turn (on any node) decided it
        first, or it expired meanwhile."""
        now = self._clock.now()
        done = await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.id == challenge.id,
                ApprovalChallenge.status == ChallengeStatus.PENDING,
                ApprovalChallenge.expires_at > now,
            )
            .values(status=status, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    async def close_request(
        self, session: AsyncSession, request_id: int, status: ChallengeStatus
    ) -> None:
        """The request is decided (or denied): none of its challenges stays pending."""
        await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.request_id == request_id,
                ApprovalChallenge.status == ChallengeStatus.PENDING,
            )
            .values(status=status, decided_at=self._clock.now())
            .execution_options(synchronize_session=False)
        )

    async def wrong_number(self, session: AsyncSession, challenge: ApprovalChallenge) -> int:
        """Count a wrong number; the third voids the challenge. Attempts left (0: void)."""
        now = self._clock.now()
        await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.id == challenge.id,
                ApprovalChallenge.status == ChallengeStatus.PENDING,
            )
            .values(attempts=ApprovalChallenge.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        attempts = await session.scalar(
            select(ApprovalChallenge.attempts).where(ApprovalChallenge.id == challenge.id)
        )
        used = attempts or MAX_WRONG_NUMBERS
        if used >= MAX_WRONG_NUMBERS:
            await session.execute(
                update(ApprovalChallenge)
                .where(
                    ApprovalChallenge.id == challenge.id,
                    ApprovalChallenge.status == ChallengeStatus.PENDING,
                )
                .values(status=ChallengeStatus.VOID, decided_at=now)
                .execution_options(synchronize_session=False)
            )
        return max(0, MAX_WRONG_NUMBERS - used)


def is_live(challenge: ApprovalChallenge, now: datetime) -> bool:
    return challenge.status == ChallengeStatus.PENDING and challenge.expires_at > now
