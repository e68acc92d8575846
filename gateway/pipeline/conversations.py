"""The pipeline: runs one client turn through analysis, the dialogue's decision and its step.

Each turn is one database transaction: the transcript, the request, the code check, the record
and the deliveries it causes commit together or not at all, and replies leave only after the
commit. Steps are small `_step_<name>` methods, one per `dialogue.Step`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.clock import Clock
from gateway.codes.totp import CHAT_WINDOW, EMAIL_WINDOW
from gateway.codes.verifier import MAX_FAILURES, CodeVerifier
from gateway.metrics import Metrics
from gateway.pipeline import identification
from gateway.pipeline.analysis import Analysis, analyse
from gateway.pipeline.dialogue import Situation, Step, next_step
from gateway.pipeline.forwarding import Forwarder
from gateway.pipeline.model import (
    Author,
    ChatMessage,
    Inbound,
    Outcome,
    RequestStatus,
    Stage,
    Status,
    Verification,
)
from gateway.pipeline.notices import AccountNotices
from gateway.pipeline.replies import Replies, pick_language
from gateway.pipeline.tickets import new_ticket
from gateway.redaction import redact
from gateway.storage.models import Account, ChangeRequest, Conversation, TranscriptMessage
from policies import Channel, Duties, PolicySet, Requirement

WINDOWS = {Channel.CHAT: CHAT_WINDOW, Channel.EMAIL: EMAIL_WINDOW}


class UnknownConversation(LookupError):
    pass


@dataclass(slots=True)
class _Turn:
    session: AsyncSession
    conversation: Conversation
    request: ChangeRequest | None
    inbound: Inbound
    replies: list[ChatMessage] = field(default_factory=list)
    verified: bool | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    status: Status
    resume_token: str
    replies: tuple[ChatMessage, ...]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicySet,
        verifier: CodeVerifier,
        forwarder: Forwarder,
        notices: AccountNotices,
        replies: Replies,
        identifier_key: bytes,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._verifier = verifier
        self._forwarder = forwarder
        self._notices = notices
        self._replies = replies
        self._identifier_key = identifier_key
        self._clock = clock
        self._metrics = metrics

    # -- conversations -------------------------------------------------------------------

    async def open_conversation(
        self, channel: Channel, client: str = "", language: str | None = None
    ) -> Opened:
        """A new conversation whose first message is the notice that it is recorded."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            conversation = Conversation(
                id=secrets.token_urlsafe(16),
                channel=channel.value,
                client=client[:320],
                language=pick_language(language),
                stage=Stage.OPEN,
                resume_token_hash=_token_hash(token),
                failed_attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(conversation)
            notice = await self._say(session, conversation, "notice")
            status = _status(conversation, None)
        return Opened(status, token, (notice,))

    async def resume(self, conversation_id: str, token: str) -> Status | None:
        """The conversation's status if the token is its resume token, else None."""
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not hmac.compare_digest(
                conversation.resume_token_hash, _token_hash(token)
            ):
                return None
            return _status(conversation, await self._active_request(session, conversation))

    async def transcript(self, conversation_id: str) -> list[ChatMessage]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(TranscriptMessage)
                .where(TranscriptMessage.conversation_id == conversation_id)
                .order_by(TranscriptMessage.id)
            )
            return [_chat_message(row) for row in rows]

    async def close(self, conversation_id: str) -> Status:
        async with self._sessions.begin() as session:
            conversation = await self._locked_conversation(session, conversation_id)
            conversation.stage = Stage.CLOSED
            conversation.updated_at = self._clock.now()
            return _status(conversation, await self._active_request(session, conversation))

    # -- one client turn -----------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> Outcome:
        async with self._sessions.begin() as session:
            conversation = await self._locked_conversation(session, inbound.conversation)
            request = await self._active_request(session, conversation)
            turn = _Turn(session, conversation, request, inbound)
            message = analyse(self._policies, inbound.channel, inbound.text, inbound.credentials)
            with_staff = await self._has_forwarded(session, conversation)
            step = next_step(Situation(Stage(conversation.stage), with_staff), message)
            message_id = None
            if step is not Step.REFUSE_CLOSED and inbound.text:
                message_id = await self._record(session, conversation, Author.CLIENT, inbound.text)
            await getattr(self, f"_step_{step.value}")(turn, message)
            conversation.updated_at = self._clock.now()
            status = _status(conversation, turn.request)
        return Outcome(status, tuple(turn.replies), message_id, turn.error, turn.verified)

    async def _step_refuse_closed(self, turn: _Turn, message: Analysis) -> None:
        turn.error = "closed"
        turn.verified = False if message.credentials else None

    async def _step_stay_locked(self, turn: _Turn, message: Analysis) -> None:
        turn.verified = False if message.credentials else None
        await self._reply(turn, "locked")

    async def _step_note(self, turn: _Turn, message: Analysis) -> None:
        """Staff already follow this conversation; the client's words are in the transcript."""

    async def _step_nothing_to_verify(self, turn: _Turn, message: Analysis) -> None:
        turn.verified = False
        await self._reply(turn, "nothing_to_verify")

    async def _step_forward(self, turn: _Turn, message: Analysis) -> None:
        request = await self._new_request(turn, message)
        request.verification = Verification.NOT_REQUIRED
        await self._forward(turn, message)
        await self._reply(turn, "forwarded", ticket=request.ticket)

    async def _step_hold(self, turn: _Turn, message: Analysis) -> None:
        await self._new_request(turn, message)
        found = self._identification(message)
        if found is not None:
            await self._identified(turn, message, found)
        elif message.credentials is not None:
            await self._step_verify(turn, message)
        else:
            turn.conversation.stage = Stage.IDENTIFY
            await self._reply_about_request(turn, "ask_identify")

    async def _step_identify(self, turn: _Turn, message: Analysis) -> None:
        found = self._identification(message)
        if found is None:  # the dialogue only sends messages that name something
            raise RuntimeError("identify step without a service or number")
        await self._identified(turn, message, found)

    async def _step_mistyped_identifier(self, turn: _Turn, message: Analysis) -> None:
        await self._reply(turn, "mistyped_identifier")

    async def _step_ask_identify(self, turn: _Turn, message: Analysis) -> None:
        await self._reply_about_request(turn, "ask_identify")

    async def _step_ask_credentials(self, turn: _Turn, message: Analysis) -> None:
        await self._reply_about_request(turn, "ask_credentials")

    async def _step_cancel(self, turn: _Turn, message: Analysis) -> None:
        request = self._held(turn)
        request.status = RequestStatus.CANCELLED
        request.closed_at = self._clock.now()
        turn.conversation.stage = Stage.OPEN
        await self._reply(turn, "cancelled", ticket=request.ticket)

    async def _step_nothing_to_cancel(self, turn: _Turn, message: Analysis) -> None:
        await self._reply(turn, "nothing_to_cancel")

    async def _step_verify(self, turn: _Turn, message: Analysis) -> None:
        request, conversation = self._held(turn), turn.conversation
        credentials = message.credentials
        if credentials is None:
            raise RuntimeError("verify step without credentials")
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

    def _identification(self, message: Analysis) -> identification.Identification | None:
        if message.services:
            return identification.by_service(message.services[0])
        if message.valid_identifiers:
            return identification.by_identifier(self._identifier_key, message.valid_identifiers[0])
        return None

    async def _identified(
        self, turn: _Turn, message: Analysis, found: identification.Identification
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

    async def _new_request(self, turn: _Turn, message: Analysis) -> ChangeRequest:
        decision = message.decision
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
            created_at=self._clock.now(),
        )
        turn.session.add(request)
        await turn.session.flush()
        turn.conversation.active_request_id = request.id
        turn.request = request
        self._metrics.requests.labels(decision.intent, request.channel).inc()
        return request

    async def _forward(self, turn: _Turn, message: Analysis) -> Duties:
        request = self._held(turn)
        duties = Duties(**json.loads(request.duties))
        await self._forwarder.forward(turn.session, request, turn.conversation, duties)
        return duties

    def _held(self, turn: _Turn) -> ChangeRequest:
        if turn.request is None:
            raise RuntimeError("the dialogue reached a step that needs a request without one")
        return turn.request

    async def _reply_about_request(self, turn: _Turn, name: str) -> None:
        request = self._held(turn)
        await self._reply(
            turn, name, ticket=request.ticket, intent=request.intent, service=request.service
        )

    async def _reply(self, turn: _Turn, name: str, **params: Any) -> None:
        turn.replies.append(await self._say(turn.session, turn.conversation, name, **params))

    async def _say(
        self, session: AsyncSession, conversation: Conversation, name: str, **params: Any
    ) -> ChatMessage:
        text = self._replies.render(conversation.language, name, **params)
        row = await self._store(session, conversation, Author.BOT, text)
        return _chat_message(row)

    async def _record(
        self, session: AsyncSession, conversation: Conversation, author: Author, text: str
    ) -> int:
        """Client and staff words enter the transcript only with codes and numbers masked."""
        return (await self._store(session, conversation, author, redact(text))).id

    async def _store(
        self, session: AsyncSession, conversation: Conversation, author: Author, text: str
    ) -> TranscriptMessage:
        row = TranscriptMessage(
            conversation_id=conversation.id,
            author=author.value,
            text=text,
            created_at=self._clock.now(),
        )
        session.add(row)
        await session.flush()
        return row

    async def _locked_conversation(
        self, session: AsyncSession, conversation_id: str
    ) -> Conversation:
        conversation = await session.get(Conversation, conversation_id, with_for_update=True)
        if conversation is None:
            raise UnknownConversation(conversation_id)
        return conversation

    async def _active_request(
        self, session: AsyncSession, conversation: Conversation
    ) -> ChangeRequest | None:
        if conversation.active_request_id is None:
            return None
        return await session.get(ChangeRequest, conversation.active_request_id)

    async def _has_forwarded(self, session: AsyncSession, conversation: Conversation) -> bool:
        query = select(
            exists().where(
                ChangeRequest.conversation_id == conversation.id,
                ChangeRequest.status.in_([RequestStatus.FORWARDED, RequestStatus.UNMATCHED]),
            )
        )
        return bool(await session.scalar(query))


def _status(conversation: Conversation, request: ChangeRequest | None) -> Status:
    return Status(
        conversation=conversation.id,
        stage=Stage(conversation.stage),
        ticket=request.ticket if request else None,
        intent=request.intent if request else None,
    )


def _chat_message(row: TranscriptMessage) -> ChatMessage:
    return ChatMessage(row.id, Author(row.author), row.text, row.created_at)
