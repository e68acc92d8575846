"""The client approving a held request in the Client Panel (contract section 11), as steps of
the one pipeline: the offer made when a request reaches `authenticate`, and the holder's
decision, a turn of the conversation the request was made in.

An approval is checked as strictly as a code: the request still held and worked on, sealed,
within its hold, the approving account one the request and the whole conversation allow, the
number right, the account not locked, and the challenge won by compare-and-set. A denial is
the holder's "not me": the request cancelled, the conversation locked, staff and the
registered contact told.
"""

from __future__ import annotations

import hmac

from gateway.approvals.challenges import ChallengeStatus
from gateway.approvals.offers import ApprovalOffers
from gateway.audit.chain import sha256_hex
from gateway.clock import Clock
from gateway.codes.verifier import MAX_FAILURES, CodeVerifier
from gateway.metrics import Metrics
from gateway.pipeline import store
from gateway.pipeline.holding import Holds, sender_unproven
from gateway.pipeline.model import (
    ContactDenial,
    PanelAnswer,
    PanelChoice,
    PanelDecision,
    PanelOutcome,
    RequestStatus,
    Stage,
    Verification,
)
from gateway.pipeline.transitions import Event, allowed
from gateway.pipeline.turn import Turn
from gateway.storage.models import Account, ApprovalChallenge, ChangeRequest

PANEL_APPROVAL = "panel_approval"


class PanelDecisions:
    """The holder's decisions on their held requests: in the Client Panel, on a challenge;
    from the notice's "not me" link, on a verified request staff have not acted on."""

    def __init__(
        self,
        holds: Holds,
        offers: ApprovalOffers,
        verifier: CodeVerifier,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._holds = holds
        self._offers = offers
        self._challenges = offers.challenges
        self._verifier = verifier
        self._metrics = metrics
        self._clock = clock

    async def decide(self, turn: Turn, command: PanelDecision) -> None:
        session = turn.session
        challenge = await self._challenges.find(session, command.challenge)
        account = (
            await session.get(Account, challenge.account_id, with_for_update=True)
            if challenge is not None and challenge.account_id is not None
            else None
        )
        request = (
            await session.get(ChangeRequest, challenge.request_id, with_for_update=True)
            if challenge is not None
            else None
        )
        if (
            challenge is None
            or account is None
            or request is None
            or request.conversation_id != turn.conversation.id
            or not hmac.compare_digest(account.login.encode(), command.login.encode())
        ):
            turn.panel = PanelAnswer(PanelOutcome.NOT_FOUND)
            return
        if command.choice is PanelChoice.DENY:
            await self._deny(turn, challenge, request, account)
        else:
            await self._approve(turn, challenge, request, account, command.number)
        if turn.panel is not None:
            self._metrics.approvals.labels(request.channel, turn.panel.outcome.value).inc()

    async def _approve(
        self,
        turn: Turn,
        challenge: ApprovalChallenge,
        request: ChangeRequest,
        account: Account,
        number: str,
    ) -> None:
        session, now = turn.session, self._clock.now()
        live = (
            challenge.status == ChallengeStatus.PENDING
            and challenge.expires_at > now
            and request.status == RequestStatus.HELD
            and turn.conversation.active_request_id == request.id
            and turn.conversation.stage == Stage.AUTHENTICATE
        )
        if not live:
            turn.panel = PanelAnswer(PanelOutcome.EXPIRED)
            return
        right = hmac.compare_digest(number.strip().encode(), challenge.number.encode())
        locked = account.locked_until is not None and account.locked_until > now
        if not right or locked:  # a locked account's right number is a wrong one
            await self._wrong_number(turn, challenge, request, account, locked)
            return
        description = self._offers.describe(request, account.language)
        fit = (
            self._holds.fit(turn, request) is None
            and not sender_unproven(request)
            and sha256_hex(description) == challenge.description_sha256
        )
        allowed = await self._holds.allowed_accounts(session, request) if fit else None
        if not fit or (allowed is not None and account.id not in allowed):
            # Changed, edited, held too long, or the conversation now names another account.
            await self._challenges.settle(session, challenge, ChallengeStatus.VOID)
            turn.panel = PanelAnswer(PanelOutcome.EXPIRED)
            return
        if not await self._challenges.settle(session, challenge, ChallengeStatus.APPROVED):
            turn.panel = PanelAnswer(PanelOutcome.EXPIRED)  # another node decided it first
            return
        await self._challenges.close_request(session, request.id, ChallengeStatus.REPLACED)
        await self._verifier.reset_failures(session, account)
        approval = {
            "challenge": challenge.public_id,
            "description_sha256": challenge.description_sha256,
        }
        await self._holds.accept(turn, request, account, PANEL_APPROVAL, approval)
        turn.panel = PanelAnswer(PanelOutcome.APPROVED)

    async def _wrong_number(
        self,
        turn: Turn,
        challenge: ApprovalChallenge,
        request: ChangeRequest,
        account: Account,
        locked: bool,
    ) -> None:
        """Counts like a wrong code: the challenge's three, the account's five, the
        conversation's five."""
        left = await self._challenges.wrong_number(turn.session, challenge)
        if not locked and await self._verifier.count_failure(turn.session, account):
            self._metrics.lockouts.labels("account").inc()
        turn.conversation.failed_attempts += 1
        turn.panel = PanelAnswer(PanelOutcome.WRONG_NUMBER, left)
        self._metrics.verifications.labels(request.channel, "rejected", "wrong_number").inc()
        if turn.conversation.failed_attempts >= MAX_FAILURES:
            await self._holds.lock(turn)

    async def _deny(
        self,
        turn: Turn,
        challenge: ApprovalChallenge,
        request: ChangeRequest,
        account: Account,
    ) -> None:
        """ "Not me" needs no number and no live challenge: whoever holds the account may
        stop a request of theirs while it is held."""
        session = turn.session
        if request.status != RequestStatus.HELD or not allowed(
            Event.DENY, turn.conversation, request
        ):
            turn.panel = PanelAnswer(PanelOutcome.EXPIRED)
            return
        await self._challenges.close_request(session, request.id, ChallengeStatus.DENIED)
        await self._holds.deny(turn, request, account, "panel")
        turn.panel = PanelAnswer(PanelOutcome.DENIED)

    async def deny_by_link(self, turn: Turn, command: ContactDenial) -> None:
        session = turn.session
        request = await store.request_in(session, turn.conversation.id, command.ticket)
        account = await session.get(Account, command.account_id, with_for_update=True)
        if request is None or account is None or request.account_id != account.id:
            turn.panel = PanelAnswer(PanelOutcome.NOT_FOUND)
            return
        open_to_it = (
            request.status == RequestStatus.FORWARDED
            and request.verification == Verification.VERIFIED
            and allowed(Event.DENY, turn.conversation, request)
        )
        if not open_to_it:  # acted on, withdrawn, or stopped already: nothing left to stop
            turn.panel = PanelAnswer(PanelOutcome.EXPIRED)
            return
        await self._holds.deny(turn, request, account, "contact_link")
        turn.panel = PanelAnswer(PanelOutcome.DENIED)
