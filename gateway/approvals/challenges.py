"""Approval challenges: a held request offered to its account holder in the Client Panel.

A challenge is bound to one request and one account, carries a short number shown only to
whoever asked (so the approval comes from the conversation the client is in), lives a few
minutes, and is decided once: every change of its status is a compare-and-set on the row, so
two nodes deciding at once cannot both win. At most one is pending per account (a unique
partial index backs it), so nobody can bomb a client with prompts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
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
    REPLACED = "replaced"  # a newer one for the same request (its words changed), or expired
    CONTESTED = "contested"  # two requests for one account at once: neither is approvable


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

    def new_number(self) -> str:
        return f"{secrets.randbelow(10**self._digits):0{self._digits}d}"

    async def open(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        offers: Sequence[tuple[int | None, str]],
    ) -> tuple[ApprovalPrompt, list[ApprovalChallenge]]:
        """A new challenge for the request, offered to each (account, description) given; an
        offer with no account is the stand-in for a request no account holds. The request's
        own older one is replaced (its words changed). The same statements run whether or not
        any account holds the request.

        Two requesters at once for one account (a live challenge of another request there):
        neither can be approved (both `contested`) until they have expired; codes still
        verify. A newer request never takes over an older one's place in the panel, where the
        holder could type the number they were shown into a stranger's card, and what each
        requester sees stays the same, a number of its own, so no conversation tells what
        another one named. Numbers are drawn at random, never chosen against others."""
        now = self._clock.now()
        expires_at = now + self._ttl
        accounts = [account for account, _ in offers if account is not None]
        # Serialise with any other node opening one for the same account (PostgreSQL).
        await session.execute(select(Account.id).where(Account.id.in_(accounts)).with_for_update())
        live = (ChallengeStatus.PENDING, ChallengeStatus.CONTESTED)
        rivals = set(
            await session.scalars(
                select(ApprovalChallenge.account_id).where(
                    ApprovalChallenge.account_id.in_(accounts),
                    ApprovalChallenge.request_id != request.id,
                    ApprovalChallenge.status.in_(live),
                    ApprovalChallenge.expires_at > now,
                )
            )
        )
        # The request's own older ones go; so does any expired one still marked pending.
        await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.status.in_(live),
                (ApprovalChallenge.request_id == request.id)
                | (
                    ApprovalChallenge.account_id.in_(accounts)
                    & (ApprovalChallenge.expires_at <= now)
                ),
            )
            .values(status=ChallengeStatus.REPLACED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        # Another request's live one on the same account: both are contested.
        await session.execute(
            update(ApprovalChallenge)
            .where(
                ApprovalChallenge.status == ChallengeStatus.PENDING,
                ApprovalChallenge.account_id.in_(rivals),
            )
            .values(status=ChallengeStatus.CONTESTED)
            .execution_options(synchronize_session=False)
        )
        number = self.new_number()
        opened = []
        for account, description in offers[:MAX_HOLDERS]:
            opened.append(
                ApprovalChallenge(
                    public_id=secrets.token_urlsafe(16),
                    request_id=request.id,
                    account_id=account,
                    number=number,
                    description_sha256=sha256_hex(description),
                    status=ChallengeStatus.CONTESTED
                    if account in rivals
                    else ChallengeStatus.PENDING,
                    attempts=0,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        session.add_all(opened)
        await session.flush()
        return ApprovalPrompt(number, expires_at), opened

    async def opened_for(self, session: AsyncSession, request_id: int) -> int:
        query = select(func.count(ApprovalChallenge.id)).where(
            ApprovalChallenge.request_id == request_id
        )
        return int(await session.scalar(query) or 0)

    async def shown(self, session: AsyncSession, request_id: int) -> ApprovalChallenge | None:
        """What the request's requester sees: its live challenge, approvable or contested (the
        same either way: what one conversation shows must not tell what another named)."""
        latest = await session.scalar(
            select(ApprovalChallenge)
            .where(
                ApprovalChallenge.request_id == request_id,
                ApprovalChallenge.expires_at > self._clock.now(),
            )
            .order_by(ApprovalChallenge.id.desc())
            .limit(1)
        )
        live = (ChallengeStatus.PENDING, ChallengeStatus.CONTESTED)
        return latest if latest is not None and latest.status in live else None

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
