"""Held requests, from the line that asks to the verification that covers it (after Mailman's
held messages): opened with a scope, worked on one at a time while others wait in line, each
verified by a code of its own, then forwarded to staff.

Every stage and status change goes through `transitions.apply`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.accounts.mentions import mentioned
from gateway.approvals.challenges import ChallengeStatus
from gateway.approvals.offers import ApprovalOffers
from gateway.clock import Clock
from gateway.codes.totp import CHAT_WINDOW, EMAIL_WINDOW
from gateway.codes.verifier import MAX_FAILURES, CodeVerifier
from gateway.credentials import Credentials
from gateway.identifiers import FoundIdentifier
from gateway.keys import Keys
from gateway.logs import fields
from gateway.metrics import Metrics
from gateway.pipeline import identification, store
from gateway.pipeline.analysis import Analysis
from gateway.pipeline.forwarding import Forwarder
from gateway.pipeline.model import ApprovalPrompt, RequestStatus, Verification
from gateway.pipeline.notices import AccountNotices
from gateway.pipeline.scope import Scope, scope_of, store_scope
from gateway.pipeline.sealing import seal, sealed
from gateway.pipeline.tickets import new_ticket
from gateway.pipeline.transitions import Event, apply
from gateway.pipeline.turn import Turn, Voice
from gateway.storage.models import Account, ChangeRequest, InboundMail
from policies import Channel, Decision, Duties, Requirement

log = logging.getLogger(__name__)
WINDOWS = {Channel.CHAT: CHAT_WINDOW, Channel.EMAIL: EMAIL_WINDOW}
CLOCK_SKEW = timedelta(minutes=5)  # between the nodes that hold and verify a request
OFFERS_PER_REQUESTER = 20  # approval challenges one chat address or e-mail sender may open…
OFFERS_WINDOW = timedelta(hours=1)  # …in this long


class Holds:
    def __init__(
        self,
        verifier: CodeVerifier,
        forwarder: Forwarder,
        notices: AccountNotices,
        voice: Voice,
        keys: Keys,
        clock: Clock,
        metrics: Metrics,
        hold_hours: int,
        offers: ApprovalOffers,
    ) -> None:
        self._hold = timedelta(hours=hold_hours)
        self._offers = offers
        self._verifier = verifier
        self._forwarder = forwarder
        self._notices = notices
        self._voice = voice
        self._keys = keys
        self._clock = clock
        self._metrics = metrics

    # -- opening and widening --------------------------------------------------------------

    async def open(
        self,
        turn: Turn,
        decision: Decision,
        scope: Scope,
        text: str,
        line: int | None,
        *,
        requested_by_staff: str | None = None,
    ) -> ChangeRequest:
        """A request made of one client line; it starts held and unverified, not yet active."""
        inbound = turn.inbound
        request = ChangeRequest(
            ticket=await new_ticket(turn.session),
            conversation_id=turn.conversation.id,
            channel=turn.conversation.channel,
            intent=decision.intent,
            stage_required=decision.requirement.value,
            status=RequestStatus.HELD,
            verification=Verification.UNVERIFIED,
            request_text=text,
            duties=json.dumps(dataclasses.asdict(decision.duties)),
            sender_authentication=inbound.sender_authentication if inbound else "none",
            inbound_mail_id=inbound.mail_id if inbound else None,
            requested_by_staff=requested_by_staff,
            created_at=self._clock.now(),
        )
        store_scope(request, scope)
        seal(self._keys, request)
        turn.session.add(request)
        await turn.session.flush()
        if line is not None:
            await store.link_line(turn.session, line, request.id)
        turn.touch(request)
        self._metrics.requests.labels(decision.intent, request.channel).inc()
        return request

    def activate(self, turn: Turn, request: ChangeRequest) -> None:
        turn.conversation.active_request_id = request.id
        turn.request = request
        turn.touch(request)

    async def join(self, turn: Turn, message: Analysis) -> None:
        """The client's line adds to the active request (stage 1's answer, or more words about
        the same change): its text and what it names become part of what is verified."""
        request, line = turn.active(), turn.line
        if line is None:
            return
        store_scope(request, scope_of(request).widened(message.scope))
        request.request_text = f"{request.request_text}\n{line.text}".strip()
        seal(self._keys, request)
        await store.link_line(turn.session, line.id, request.id)
        if await self._offers.challenges.shown(turn.session, request.id) is not None:
            # What the holder would approve changed: the number shown so far covers no more.
            await self.offer(turn, request, renew=True)

    def identify(self, request: ChangeRequest, identifiers: Sequence[FoundIdentifier] = ()) -> bool:
        """Stage 1 from the services the request names, else from a valid PESEL/NIP/REGON the
        line gave; False when there is neither."""
        services = scope_of(request).services
        if services:
            found = identification.by_service(services[0])
        elif identifiers:
            found = identification.by_identifier(self._keys.identifier, identifiers[0])
        else:
            return False
        request.identified_by = found.identified_by
        request.service = found.service
        request.identifier_hash = found.identifier_hash
        seal(self._keys, request)
        return True

    # -- working on the active request ------------------------------------------------------

    async def pursue(self, turn: Turn, credentials: Credentials | None = None) -> None:
        """Take the active request as far as it can go now: ask for stage 1, settle a request
        that needs nothing more, or ask for (or check) the code."""
        request = turn.active()
        if request.identified_by is None and credentials is None:
            apply(Event.ASK_IDENTIFICATION, turn.conversation, request)
            await self._voice.about(turn, request, "ask_identify")
            return
        if request.identified_by is not None and request.stage_required == Requirement.IDENTIFIED:
            await self._settle_identified(turn)
            return
        apply(Event.ASK_CODE, turn.conversation, request)
        if credentials is not None:
            await self.verify(turn, credentials)
        else:
            await self.ask_code(turn, request)

    async def ask_code(self, turn: Turn, request: ChangeRequest) -> None:
        """Ask for the login and code, and offer the approval in the Client Panel beside it."""
        prompt = await self.offer(turn, request)
        phone = request.channel == Channel.PHONE.value
        if prompt is None:
            await self._voice.about(turn, request, "no_approval" if phone else "ask_credentials")
            return
        left = (prompt.expires_at - self._clock.now()).total_seconds()
        await self._voice.about(
            turn,
            request,
            "read_out_number" if phone else "ask_credentials",
            approval=prompt.number,
            minutes=max(1, round(left / 60)),
        )

    async def offer(
        self, turn: Turn, request: ChangeRequest, *, renew: bool = False
    ) -> ApprovalPrompt | None:
        """The live challenge of the request, or a new one; none after three wrong numbers
        (codes still verify), nor when stage 1 was skipped."""
        challenges, session = self._offers.challenges, turn.session
        if not renew:
            # Live, approvable or contested by another request for the account: the same
            # number either way (what this conversation shows must not tell what another named).
            shown = await challenges.shown(session, request.id)
            if shown is not None:
                return ApprovalPrompt(shown.number, shown.expires_at)
            if await challenges.last_status(session, request.id) == ChallengeStatus.VOID:
                return None
        if request.identified_by in (None, identification.BY_LOGIN) or sender_unproven(request):
            return None
        if request.channel != Channel.PHONE.value:
            # One requester cannot churn a client's prompts: so many an hour, whoever they
            # name, so the limit says nothing about who is a client.
            since = self._clock.now() - OFFERS_WINDOW
            if (
                await challenges.opened_by(session, turn.conversation.client, since)
                >= OFFERS_PER_REQUESTER
            ):
                return None
        allowed = await self.allowed_accounts(session, request)
        language = turn.conversation.language
        return await self._offers.offer(session, request, language, allowed)

    async def next_in_line(self, turn: Turn) -> None:
        """The active request is settled: the oldest one waiting behind it comes up."""
        waiting = await store.held_requests(turn.session, turn.conversation.id)
        if waiting:
            self.activate(turn, waiting[0])
            await self.pursue(turn)

    async def _settle_identified(self, turn: Turn) -> None:
        """Equal work whether or not an account holds what was named: the answer's timing must
        not tell who is a client."""
        request, session = turn.active(), turn.session
        matched = await identification.holders_of(session, request)
        # Same words to the client either way; staff see an unmatched one in the console only.
        apply(Event.IDENTIFY if matched else Event.UNMATCH, turn.conversation, request)
        savepoint = await session.begin_nested()
        try:
            await self._deliver(turn, request if matched else self._forwarder.stand_in(request))
            await session.flush()
        finally:
            await (savepoint.commit() if matched else savepoint.rollback())
        if matched:
            self._forwarded(turn, request)
        await self._voice.reply(turn, "forwarded", ticket=request.ticket)
        await self.next_in_line(turn)

    async def verify(self, turn: Turn, credentials: Credentials) -> None:
        request, conversation = turn.active(), turn.conversation
        if request.channel not in WINDOWS:
            # The hotline takes no codes at all: its caller approves in the Client Panel.
            turn.verified = False
            self.count_refusal(turn, "no_codes_on_this_channel")
            return
        if request.channel == Channel.EMAIL.value and turn.inbound is not None:
            # What counts is the mail that carries the code.
            request.sender_authentication = turn.inbound.sender_authentication
            required = duties_of(request).require_sender_authentication
            if required and request.sender_authentication != "pass":
                # The policy wants this kind of request only from an authenticated sender: no
                # code is checked (so none is spent or counted), whatever the client sent.
                turn.verified = False
                self.count_refusal(turn, "sender_not_authenticated")
                await self._voice.reply(turn, "sender_not_authenticated", ticket=request.ticket)
                return
        unfit = self.fit(turn, request)
        if unfit is not None:
            turn.verified = False
            self.count_refusal(turn, unfit)
            if unfit == "request_edited":
                await self._voice.about(turn, request, "verification_failed", remaining=0)
            else:
                await self._voice.reply(turn, "expired", ticket=request.ticket)
            return
        allowed = await self.allowed_accounts(turn.session, request)
        check = await self._verifier.check(
            turn.session,
            credentials.login,
            credentials.code,
            window=WINDOWS[Channel(request.channel)],
            ticket=request.ticket,
            holders=allowed,
        )
        reason = check.failure.value if check.failure else ""
        result = "accepted" if check.accepted else "rejected"
        self._metrics.verifications.labels(request.channel, result, reason).inc()
        if check.locked_now:
            self._metrics.lockouts.labels("account").inc()
        turn.verified = check.accepted
        if check.accepted:
            account = await turn.session.get(Account, check.account_id)
            if account is None or check.method is None:
                raise RuntimeError("an accepted check without its account or method")
            await self.accept(turn, request, account, check.method.value)
            return
        conversation.failed_attempts += 1
        if conversation.failed_attempts >= MAX_FAILURES:
            await self.lock(turn)
        else:
            remaining = MAX_FAILURES - conversation.failed_attempts
            await self._voice.about(turn, request, "verification_failed", remaining=remaining)

    def fit(self, turn: Turn, request: ChangeRequest) -> str | None:
        """Why no proof at all may verify the request now (a refusal reason), or None."""
        if not sealed(self._keys, request):
            # What the client was asked to confirm was changed behind the gateway's back.
            log.error(
                "held request edited outside the gateway", extra=fields(ticket=request.ticket)
            )
            return "request_edited"
        age = self._clock.now() - request.created_at
        if not -CLOCK_SKEW <= age <= self._hold:
            # Held longer than requests may be (the next sweep withdraws it), or dated in the
            # future, which only an edit of the database does.
            return "hold_expired"
        return None

    async def allowed_accounts(
        self, session: AsyncSession, request: ChangeRequest
    ) -> frozenset[int] | None:
        """The accounts whose proof may verify the request: those holding what it names, and
        whoever else the conversation names, in any spelling (None: the login alone decides)."""
        allowed = await identification.holders_of(session, request)
        texts = await store.client_texts(session, request)
        for accounts in await mentioned(session, [*texts, request.request_text]):
            allowed = accounts if allowed is None else allowed & accounts
        return allowed

    async def accept(
        self,
        turn: Turn,
        request: ChangeRequest,
        account: Account,
        method: str,
        approval: dict[str, str] | None = None,
    ) -> None:
        """The account holder's proof verified the request: to staff with its record."""
        request.account_id, request.login = account.id, account.login
        request.method, request.verified_at = method, self._clock.now()
        apply(Event.VERIFY, turn.conversation, request)
        await self._offers.challenges.close_request(
            turn.session, request.id, ChallengeStatus.REPLACED
        )
        await self.forward(turn, request, approval)
        duties = duties_of(request)
        if duties.notify_contact:
            hold_until = self._clock.now() + timedelta(seconds=duties.cooling_off_seconds)
            self._notices.request_verified(turn.session, account, request, hold_until)
        await self._voice.about(turn, request, "verified")
        await self.next_in_line(turn)

    async def deny(self, turn: Turn, request: ChangeRequest, account: Account, via: str) -> None:
        """The account holder did not ask for it: cancelled, nothing more changes in this
        conversation, staff told on every path, the registered contact told."""
        conversation, now = turn.conversation, self._clock.now()
        apply(Event.DENY, conversation, request)
        request.closed_at, request.closed_by = now, "account holder"
        turn.touch(request)
        for waiting in await store.held_requests(turn.session, conversation.id):
            apply(Event.LOCK, conversation, waiting)
            turn.touch(waiting)
        await self._forwarder.tell_denial(turn.session, request, conversation, via)
        self._notices.request_denied(turn.session, account, request)
        self._metrics.denials.labels(request.channel, via).inc()
        await self._voice.reply(turn, "denied", ticket=request.ticket)

    async def lock(self, turn: Turn) -> None:
        """Out of attempts: nothing more can be verified in this conversation."""
        for request in await store.held_requests(turn.session, turn.conversation.id):
            apply(Event.LOCK, turn.conversation, request)
            turn.touch(request)
        self._metrics.lockouts.labels("conversation").inc()
        await self._voice.reply(turn, "locked")

    async def cancel(self, turn: Turn) -> None:
        request = turn.active()
        apply(Event.CANCEL, turn.conversation, request)
        request.closed_at = self._clock.now()
        turn.touch(request)
        await self._voice.reply(turn, "cancelled", ticket=request.ticket)
        await self.next_in_line(turn)

    async def forward(
        self, turn: Turn, request: ChangeRequest, approval: dict[str, str] | None = None
    ) -> None:
        """To staff with its record, once the table has moved it to `forwarded`."""
        await self._deliver(turn, request, approval)
        self._forwarded(turn, request)

    def _forwarded(self, turn: Turn, request: ChangeRequest) -> None:
        self._metrics.forwarded.labels(request.channel, request.verification).inc()
        turn.touch(request)

    async def _deliver(
        self, turn: Turn, request: ChangeRequest, approval: dict[str, str] | None = None
    ) -> None:
        session = turn.session
        original = None
        if request.inbound_mail_id is not None:
            mail = await session.get(InboundMail, request.inbound_mail_id)
            original = mail.raw if mail is not None else None
        inbound = turn.inbound
        await self._forwarder.forward(
            session,
            request,
            turn.conversation,
            duties_of(request),
            await store.lines_of(session, request.id),
            original=original,
            needs_human=inbound.needs_human if inbound else False,
            approval=approval,
        )

    def count_refusal(self, turn: Turn, reason: str) -> None:
        """Credentials refused before any code check: still a verification that failed."""
        self._metrics.verifications.labels(turn.conversation.channel, "rejected", reason).inc()


def duties_of(request: ChangeRequest) -> Duties:
    """The duties the policy attached when the request was held."""
    return Duties(**json.loads(request.duties))


def sender_unproven(request: ChangeRequest) -> bool:
    """The policy takes this kind of request by e-mail only from an authenticated sender, and
    the mail it came in did not prove its sender: no approval is offered or accepted (a code
    in an authenticated reply still verifies it)."""
    return (
        request.channel == Channel.EMAIL.value
        and duties_of(request).require_sender_authentication
        and request.sender_authentication != "pass"
    )
