"""The dialogue's steps: one `_step_<name>` method per `dialogue.Step`, each a small piece of
work inside the turn's transaction (after Mailman's held-request workflows)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.codes.totp import CHAT_WINDOW, EMAIL_WINDOW
from gateway.codes.verifier import MAX_FAILURES, CodeVerifier
from gateway.metrics import Metrics
from gateway.pipeline import identification, store
from gateway.pipeline.analysis import Analysis
from gateway.pipeline.dialogue import Step
from gateway.pipeline.forwarding import Forwarder
from gateway.pipeline.model import (
    Author,
    ChatMessage,
    Inbound,
    RequestStatus,
    Stage,
    Verification,
)
from gateway.pipeline.notices import AccountNotices
from gateway.pipeline.replies import Replies
from gateway.pipeline.tickets import new_ticket
from gateway.redaction import redact
from gateway.storage.models import Account, ChangeRequest, Conversation, InboundMail
from policies import Channel, Decision, Duties, Requirement

WINDOWS = {Channel.CHAT: CHAT_WINDOW, Channel.EMAIL: EMAIL_WINDOW}


@dataclass(slots=True)
class Turn:
    """One client turn in progress: what the steps read and what they leave for the channel."""

    session: AsyncSession
    conversation: Conversation
    request: ChangeRequest | None
    inbound: Inbound
    replies: list[ChatMessage] = field(default_factory=list)
    verified: bool | None = None
    error: str | None = None


class Steps:
    def __init__(
        self,
        verifier: CodeVerifier,
        forwarder: Forwarder,
        notices: AccountNotices,
        replies: Replies,
        identifier_key: bytes,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._verifier = verifier
        self._forwarder = forwarder
        self._notices = notices
        self._replies = replies
        self._identifier_key = identifier_key
        self._clock = clock
        self._metrics = metrics

    async def run(self, step: Step, turn: Turn, message: Analysis) -> None:
        await getattr(self, f"_step_{step.value}")(turn, message)

    async def _step_refuse_closed(self, turn: Turn, message: Analysis) -> None:
        turn.error = "closed"
        turn.verified = False if message.credentials else None

    async def _step_stay_locked(self, turn: Turn, message: Analysis) -> None:
        turn.verified = False if message.credentials else None
        if message.credentials is not None:
            self._count_refusal(turn, "conversation_locked")  # no code is checked any more
        await self._reply(turn, "locked")

    async def _step_note(self, turn: Turn, message: Analysis) -> None:
        """Staff already follow this conversation; the client's words are in the transcript."""

    async def _step_nothing_to_verify(self, turn: Turn, message: Analysis) -> None:
        turn.verified = False
        await self._reply(turn, "nothing_to_verify")

    async def _step_forward(self, turn: Turn, message: Analysis) -> None:
        request = await self._new_request(turn, message)
        request.verification = Verification.NOT_REQUIRED
        await self._forward(turn, message)
        await self._reply(turn, "forwarded", ticket=request.ticket)

    async def _step_hold(self, turn: Turn, message: Analysis) -> None:
        await self._new_request(turn, message)
        found = self._identification(message)
        if found is not None:
            await self._identified(turn, message, found)
        elif message.credentials is not None:
            await self._step_verify(turn, message)
        else:
            turn.conversation.stage = Stage.IDENTIFY
            await self._reply_about_request(turn, "ask_identify")

    async def _step_identify(self, turn: Turn, message: Analysis) -> None:
        found = self._identification(message)
        if found is None:  # the dialogue only sends messages that name something
            raise RuntimeError("identify step without a service or number")
        await self._identified(turn, message, found)

    async def _step_mistyped_identifier(self, turn: Turn, message: Analysis) -> None:
        await self._reply(turn, "mistyped_identifier")

    async def _step_ask_identify(self, turn: Turn, message: Analysis) -> None:
        await self._reply_about_request(turn, "ask_identify")

    async def _step_ask_credentials(self, turn: Turn, message: Analysis) -> None:
        await self._reply_about_request(turn, "ask_credentials")

    async def _step_cancel(self, turn: Turn, message: Analysis) -> None:
        request = self._held(turn)
        request.status = RequestStatus.CANCELLED
        request.closed_at = self._clock.now()
        turn.conversation.stage = Stage.OPEN
        await self._reply(turn, "cancelled", ticket=request.ticket)

    async def _step_nothing_to_cancel(self, turn: Turn, message: Analysis) -> None:
        await self._reply(turn, "nothing_to_cancel")

    async def _step_verify(self, turn: Turn, message: Analysis) -> None:
        request, conversation = self._held(turn), turn.conversation
        credentials = message.credentials
        if credentials is None:
            raise RuntimeError("verify step without credentials")
        if request.channel == Channel.EMAIL.value:
            # What counts is the mail that carries the code.
            request.sender_authentication = turn.inbound.sender_authentication
            required = _duties(request).require_sender_authentication
            if required and request.sender_authentication != "pass":
                # The policy wants this kind of request only from an authenticated sender: no
                # code is checked (so none is spent or counted), whatever the client sent.
                turn.verified = False
                self._count_refusal(turn, "sender_not_authenticated")
                await self._reply(turn, "sender_not_authenticated", ticket=request.ticket)
                return
        allowed = await identification.holders(
            turn.session, request.identified_by, request.service, request.identifier_hash
        )
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
            request.account_id, request.login = account.id, account.login
            request.method, request.verified_at = check.method.value, self._clock.now()
            request.verification = Verification.VERIFIED
            conversation.stage = Stage.VERIFIED
            duties = await self._forward(turn, message)
            if duties.notify_contact:
                self._notices.request_verified(turn.session, account, request)
            await self._reply_about_request(turn, "verified")
            return
        conversation.failed_attempts += 1
        if conversation.failed_attempts >= MAX_FAILURES:
            conversation.stage = Stage.LOCKED
            request.status = RequestStatus.LOCKED
            self._metrics.lockouts.labels("conversation").inc()
            await self._reply(turn, "locked")
        else:
            remaining = MAX_FAILURES - conversation.failed_attempts
            await self._reply(turn, "verification_failed", remaining=remaining)

    # -- the pieces the steps share ---------------------------------------------------------

    def _count_refusal(self, turn: Turn, reason: str) -> None:
        """Credentials refused before any code check: still a verification that failed."""
        self._metrics.verifications.labels(turn.inbound.channel.value, "rejected", reason).inc()

    def _identification(self, message: Analysis) -> identification.Identification | None:
        if message.services:
            return identification.by_service(message.services[0])
        if message.valid_identifiers:
            return identification.by_identifier(self._identifier_key, message.valid_identifiers[0])
        return None

    async def _identified(
        self, turn: Turn, message: Analysis, found: identification.Identification
    ) -> None:
        request = self._held(turn)
        request.identified_by = found.identified_by
        request.service = found.service
        request.identifier_hash = found.identifier_hash
        if request.stage_required != Requirement.IDENTIFIED:
            turn.conversation.stage = Stage.AUTHENTICATE
            if message.credentials is not None:
                await self._step_verify(turn, message)
            else:
                await self._reply_about_request(turn, "ask_credentials")
            return
        matched = await identification.holders(
            turn.session, found.identified_by, found.service, found.identifier_hash
        )
        turn.conversation.stage = Stage.OPEN
        if matched:
            request.verification = Verification.IDENTIFIED
            await self._forward(turn, message)
        else:
            # Same words to the client either way; staff see it in the console as unmatched.
            request.status = RequestStatus.UNMATCHED
        await self._reply(turn, "forwarded", ticket=request.ticket)

    async def _new_request(self, turn: Turn, message: Analysis) -> ChangeRequest:
        return await self.open_request(turn, message.decision)

    async def open_request(self, turn: Turn, decision: Decision) -> ChangeRequest:
        """Take a request from this turn's text; it starts held and unverified."""
        request = ChangeRequest(
            ticket=await new_ticket(turn.session),
            conversation_id=turn.conversation.id,
            channel=turn.inbound.channel.value,
            intent=decision.intent,
            stage_required=decision.requirement.value,
            status=RequestStatus.HELD,
            verification=Verification.UNVERIFIED,
            request_text=redact(turn.inbound.text),
            duties=json.dumps(dataclasses.asdict(decision.duties)),
            sender_authentication=turn.inbound.sender_authentication,
            inbound_mail_id=turn.inbound.mail_id,
            created_at=self._clock.now(),
        )
        turn.session.add(request)
        await turn.session.flush()
        turn.conversation.active_request_id = request.id
        turn.request = request
        self._metrics.requests.labels(decision.intent, request.channel).inc()
        return request

    async def _forward(self, turn: Turn, message: Analysis) -> Duties:
        request = self._held(turn)
        duties = _duties(request)
        original = None
        if request.inbound_mail_id is not None:
            mail = await turn.session.get(InboundMail, request.inbound_mail_id)
            original = mail.raw if mail is not None else None
        await self._forwarder.forward(
            turn.session,
            request,
            turn.conversation,
            duties,
            original=original,
            needs_human=turn.inbound.needs_human,
        )
        return duties

    def _held(self, turn: Turn) -> ChangeRequest:
        if turn.request is None:
            raise RuntimeError("the dialogue reached a step that needs a request without one")
        return turn.request

    async def _reply_about_request(self, turn: Turn, name: str) -> None:
        request = self._held(turn)
        await self._reply(
            turn, name, ticket=request.ticket, intent=request.intent, service=request.service
        )

    async def _reply(self, turn: Turn, name: str, **params: Any) -> None:
        turn.replies.append(await self.say(turn.session, turn.conversation, name, **params))

    async def say(
        self, session: AsyncSession, conversation: Conversation, name: str, **params: Any
    ) -> ChatMessage:
        """A bot message, rendered in the conversation's language and kept in its transcript."""
        channel = Channel(conversation.channel)
        text = self._replies.render(conversation.language, name, channel, **params)
        return await store.add_message(
            session, conversation.id, Author.BOT, text, self._clock.now()
        )


def _duties(request: ChangeRequest) -> Duties:
    """The duties the policy attached when the request was held."""
    return Duties(**json.loads(request.duties))
