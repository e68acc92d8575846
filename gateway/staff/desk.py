"""What staff can do, and nothing more: read the queue and transcripts, reply, ask the bot to
verify a client, and record the action taken on a verified request.

There is deliberately no operation that marks a request verified or shows a code: only the
client's code, checked by the pipeline, can do the first, and codes are never stored to show.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.chain import AuditChain
from gateway.clock import Clock
from gateway.core import Core
from gateway.pipeline import store
from gateway.pipeline.client_mail import ClientMail
from gateway.pipeline.conversations import Pipeline
from gateway.pipeline.model import Author, ChatMessage, Inbound, RequestStatus, Stage, Status
from gateway.pipeline.steps import Turn
from gateway.redaction import redact
from gateway.storage.models import AuditRecord, ChangeRequest, Conversation
from policies import Channel, Decision, Duties, Requirement

MAX_REPLY_LENGTH = 4000
MAX_ACTION_LENGTH = 2000
STAFF_REQUEST_INTENT = "staff_request"
# Verified first, then what needed less, then what is not actionable.
QUEUE_ORDER = {
    "verified": 0,
    "identified": 1,
    "not_required": 2,
    "unverified": 3,
}


class DeskError(Exception):
    """A staff action that is not allowed now; the text is safe to show in the console."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    ticket: str
    conversation: str
    channel: str
    intent: str
    status: str
    verification: str
    stage_required: str
    service: str | None
    login: str | None
    request_text: str
    created_at: datetime
    hold_until: str | None
    record: dict[str, Any] | None

    @property
    def actionable(self) -> bool:
        """Staff may act, and record it, only on a request that was forwarded to them."""
        return self.status == RequestStatus.FORWARDED


@dataclass(frozen=True, slots=True)
class ConversationView:
    status: Status
    channel: str
    client: str
    transcript: list[ChatMessage]
    requests: list[QueueEntry]


class StaffDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pipeline: Pipeline,
        chain: AuditChain,
        clock: Clock,
        client_mail: ClientMail,
    ) -> None:
        self._sessions = sessions
        self._pipeline = pipeline
        self._chain = chain
        self._clock = clock
        self._client_mail = client_mail

    @classmethod
    def of(cls, core: Core) -> StaffDesk:
        return cls(core.sessions, core.pipeline, core.chain, core.clock, core.client_mail)

    async def queue(self, limit: int = 200) -> list[QueueEntry]:
        """Open requests, verified first; closed and withdrawn ones are in the transcripts."""
        order = case(QUEUE_ORDER, value=ChangeRequest.verification, else_=9)
        query = (
            select(ChangeRequest)
            .where(ChangeRequest.status.not_in([RequestStatus.CLOSED, RequestStatus.CANCELLED]))
            .order_by(order, ChangeRequest.created_at.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return [await self._entry(session, r) for r in await session.scalars(query)]

    async def entry(self, ticket: str) -> QueueEntry | None:
        """One request as the queue shows it, whatever its status: what a live view pushes."""
        async with self._sessions() as session:
            request = await session.scalar(
                select(ChangeRequest).where(ChangeRequest.ticket == ticket)
            )
            return None if request is None else await self._entry(session, request)

    async def conversation(self, conversation_id: str) -> ConversationView:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise DeskError("no such conversation")
            requests = await session.scalars(
                select(ChangeRequest)
                .where(ChangeRequest.conversation_id == conversation_id)
                .order_by(ChangeRequest.id)
            )
            return ConversationView(
                status=store.status_of(
                    conversation, await store.active_request(session, conversation)
                ),
                channel=conversation.channel,
                client=conversation.client,
                transcript=await store.read_transcript(session, conversation_id),
                requests=[await self._entry(session, r) for r in requests],
            )

    async def reply(self, staff: str, conversation_id: str, text: str) -> ChatMessage:
        text = text.strip()
        if not text or len(text) > MAX_REPLY_LENGTH:
            raise DeskError(f"a reply must be 1 to {MAX_REPLY_LENGTH} characters")
        async with self._sessions.begin() as session:
            conversation = await store.locked_conversation(session, conversation_id)
            if conversation.stage == Stage.CLOSED:
                raise DeskError("the conversation is closed")
            message = await store.add_message(
                session, conversation_id, Author.STAFF, redact(text), self._clock.now()
            )
            await self._mail_client(session, conversation, message.text, automatic=False)
        await self._pipeline.events.message(conversation_id, message)
        return message

    async def _mail_client(
        self, session: AsyncSession, conversation: Conversation, text: str, *, automatic: bool
    ) -> None:
        """An e-mail client reads the conversation in their mailbox: send it there too, in the
        same transaction, so a reply is recorded and queued together or not at all."""
        if conversation.channel != Channel.EMAIL.value:
            return
        request = await store.active_request(session, conversation)
        ticket = request.ticket if request else await store.latest_ticket(session, conversation.id)
        await self._client_mail.send(
            session, conversation, [text], ticket=ticket, automatic=automatic
        )

    async def request_verification(self, staff: str, conversation_id: str) -> Status:
        """Have the bot run stage 1 and 2 with the client; staff never handle the code."""
        async with self._sessions.begin() as session:
            conversation = await store.locked_conversation(session, conversation_id)
            if conversation.stage in (Stage.CLOSED, Stage.LOCKED):
                raise DeskError(f"the conversation is {conversation.stage}")
            request = await store.active_request(session, conversation)
            if conversation.stage in (Stage.IDENTIFY, Stage.AUTHENTICATE) and request:
                return store.status_of(conversation, request)
            inbound = Inbound(Channel(conversation.channel), conversation_id)
            turn = Turn(session, conversation, None, inbound)
            decision = Decision(STAFF_REQUEST_INTENT, Requirement.AUTHENTICATED, Duties(), True)
            request = await self._pipeline.steps.open_request(turn, decision)
            request.requested_by_staff = staff
            request.request_text = f"Verification requested by staff member {staff}."
            conversation.stage = Stage.IDENTIFY
            conversation.updated_at = self._clock.now()
            said = await self._pipeline.steps.say(
                session, conversation, "verification_requested", ticket=request.ticket
            )
            await self._mail_client(session, conversation, said.text, automatic=True)
            status = store.status_of(conversation, request)
        await self._pipeline.events.message(conversation_id, said)
        await self._pipeline.events.status(status)
        await self._pipeline.events.request(status.ticket or "")
        return status

    async def record_action(self, staff: str, ticket: str, text: str) -> dict[str, Any]:
        """What was changed, at whose request: joins the chain and closes the request."""
        text = text.strip()
        if not text or len(text) > MAX_ACTION_LENGTH:
            raise DeskError(f"describe the action in 1 to {MAX_ACTION_LENGTH} characters")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            request = await session.scalar(
                select(ChangeRequest).where(ChangeRequest.ticket == ticket).with_for_update()
            )
            if request is None:
                raise DeskError("no such ticket")
            if request.status != RequestStatus.FORWARDED:
                raise DeskError(f"request {ticket} is {request.status}: no action can be recorded")
            entry = await self._entry(session, request)
            if entry.hold_until and datetime.fromisoformat(entry.hold_until) > now:
                raise DeskError(
                    f"request {ticket} is on a cooling-off hold until {entry.hold_until}"
                )
            fields = {
                "kind": "action",
                "staff": staff,
                "action_text": redact(text),
                "request_record_id": request.record_seq,
                "verification": request.verification,
                "login": request.login,
                "recorded_at": now.isoformat().replace("+00:00", "Z"),
            }
            record = await self._chain.append(session, "action", ticket, fields)
            request.status = RequestStatus.CLOSED
            request.closed_at = now
            request.closed_by, request.action_text = staff, redact(text)
        await self._pipeline.events.request(ticket)
        return record

    async def _entry(self, session: AsyncSession, request: ChangeRequest) -> QueueEntry:
        record = None
        if request.record_seq is not None:
            row = await session.get(AuditRecord, request.record_seq)
            if row is not None:
                record = {**json.loads(row.body), "hash": row.hash}
        return QueueEntry(
            ticket=request.ticket,
            conversation=request.conversation_id,
            channel=request.channel,
            intent=request.intent,
            status=request.status,
            verification=request.verification,
            stage_required=request.stage_required,
            service=request.service,
            login=request.login,
            request_text=request.request_text,
            created_at=request.created_at,
            hold_until=(record or {}).get("hold_until"),
            record=record,
        )


def entry_json(entry: QueueEntry) -> dict[str, Any]:
    """A queue entry as the console's live feed sends it."""
    data = dataclasses.asdict(entry)
    data["created_at"] = entry.created_at.isoformat()
    data["actionable"] = entry.actionable
    return data
