"""What staff can see and do, and nothing more: read the queue and transcripts, and send
commands (reply, request verification, record the action taken, close) through the pipeline's
one door, where the dialogue and its transition table decide them like a client's message.

There is deliberately no command that marks a request verified or shows a code: only the
client's code or the client's own approval in the Client Panel, checked by the pipeline, can do
the first, and codes are never stored to show. A phone call is a held request like any other;
the agent reads the caller the approval number, which binds the approval to the call and is no
secret.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.approvals.challenges import Challenges
from gateway.audit.agreement import disagreement, lines_for, records_of
from gateway.audit.export import UnknownTicket, export_ticket
from gateway.audit.records import DENIAL
from gateway.clock import Clock
from gateway.core import Core
from gateway.keys import Keys
from gateway.pipeline import store
from gateway.pipeline.conversations import Pipeline
from gateway.pipeline.model import (
    ApprovalPrompt,
    Author,
    ChatMessage,
    CloseConversation,
    Command,
    Outcome,
    PhoneCall,
    RecordAction,
    RequestStatus,
    RequestVerification,
    StaffReply,
    Status,
    Verification,
)
from gateway.pipeline.scope import scope_of
from gateway.pipeline.transitions import verified_for_action
from gateway.redaction import redact
from gateway.storage.models import ChangeRequest, Conversation, TranscriptMessage
from policies import Channel, PolicySet

# Verified first, then the holder's "not me" (someone asked in their name), then what needed
# less, then what is not actionable.
QUEUE_ORDER = {
    "verified": 0,
    "denied_by_client": 1,
    "identified": 2,
    "not_required": 3,
    "unverified": 4,
    "unmatched": 4,
}
# How long a denied request stays in the queue after the holder denied it: long enough for
# every shift to see that someone asked in a client's name.
DENIED_SHOWN_FOR = timedelta(days=7)
PHONE_LANGUAGES = ("pl", "en")


class DeskError(Exception):
    """A staff action that is not allowed now; the text is safe to show in the console."""


FINISHED = (RequestStatus.CLOSED, RequestStatus.CANCELLED, RequestStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    ticket: str
    conversation: str
    channel: str
    intent: str
    intents: tuple[str, ...]
    status: str
    verification: str
    stage_required: str
    service: str | None
    services: tuple[str, ...]
    destinations: tuple[str, ...]
    login: str | None
    request_text: str
    requested_by_staff: str | None
    created_at: datetime
    hold_until: str | None
    on_hold: bool  # its cooling-off hold still runs: nothing may be done yet
    record: dict[str, Any] | None
    verified: bool  # verified to its policy's stage, so its record's lines are covered
    actionable: bool  # verified to its policy's stage and with staff: an action can be recorded
    tampered: str | None = None  # where the row differs from the chain: nothing may be done

    @property
    def denied(self) -> bool:
        """The account holder said they did not ask for it: cancelled, nothing to act on."""
        return self.verification == Verification.DENIED_BY_CLIENT

    @property
    def answerable(self) -> bool:
        """A question with staff, needing nothing: answer it, or request verification."""
        return self.status == RequestStatus.FORWARDED and not self.actionable and not self.tampered


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    message: ChatMessage
    ticket: str | None  # the request this client line asked for or added to
    covered: bool  # a request verified to its stage covers it


@dataclass(frozen=True, slots=True)
class ConversationView:
    status: Status
    channel: str
    client: str
    transcript: list[TranscriptLine]
    requests: list[QueueEntry]
    change_intents: tuple[str, ...]  # what staff may name a line as, the fail-closed one first
    client_label: str = "client"  # who `client` is: on the phone, the staff member who took it
    # On the phone, the number the agent reads out while the caller's approval is pending.
    approval: ApprovalPrompt | None = None
    approval_seconds_left: int = 0

    @property
    def phone(self) -> bool:
        return self.channel == Channel.PHONE.value

    def first_line(self, ticket: str) -> int | None:
        """The client's line that asked for the request, if it is still in the transcript."""
        return next((line.message.id for line in self.transcript if line.ticket == ticket), None)


class StaffDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pipeline: Pipeline,
        policies: PolicySet,
        keys: Keys,
        clock: Clock,
        challenges: Challenges,
    ) -> None:
        self._sessions = sessions
        self._pipeline = pipeline
        self._policies = policies
        self._keys = keys
        self._clock = clock
        self._challenges = challenges

    @classmethod
    def of(cls, core: Core) -> StaffDesk:
        return cls(
            core.sessions, core.pipeline, core.policies, core.keys, core.clock, core.challenges
        )

    @property
    def change_intents(self) -> tuple[str, ...]:
        return self._policies.change_intents

    def intent_descriptions(self) -> list[tuple[str, str]]:
        """The change intents with the policies' words for them, the fail-closed one first."""
        found = [(name, self._policies.intent(name)) for name in self.change_intents]
        return [(name, intent.description if intent else name) for name, intent in found]

    # -- reading ----------------------------------------------------------------------------

    async def queue(self, limit: int = 200) -> list[QueueEntry]:
        """Open requests, verified first, and recently denied ones; closed and withdrawn ones
        are in the transcripts."""
        order = case(QUEUE_ORDER, value=ChangeRequest.verification, else_=9)
        recently_denied = and_(
            ChangeRequest.verification == Verification.DENIED_BY_CLIENT,
            ChangeRequest.closed_at >= self._clock.now() - DENIED_SHOWN_FOR,
        )
        query = (
            select(ChangeRequest)
            .where(or_(ChangeRequest.status.not_in(FINISHED), recently_denied))
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

    async def evidence(self, ticket: str) -> dict[str, Any]:
        """One ticket's evidence bundle, exactly as `gateway audit export` prints it."""
        async with self._sessions() as session:
            try:
                return await export_ticket(session, self._keys, ticket)
            except UnknownTicket:
                raise DeskError("no such ticket") from None

    async def conversation(self, conversation_id: str) -> ConversationView:
        async with self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise DeskError("no such conversation")
            rows = list(
                await session.scalars(
                    select(ChangeRequest)
                    .where(ChangeRequest.conversation_id == conversation_id)
                    .order_by(ChangeRequest.id)
                )
            )
            lines = await session.scalars(
                select(TranscriptMessage)
                .where(TranscriptMessage.conversation_id == conversation_id)
                .order_by(TranscriptMessage.id)
            )
            by_id = {row.id: row for row in rows}
            entries = [await self._entry(session, r) for r in rows]
            # Covered: a line a verification's record names, of a request the chain backs.
            covered = {
                line_id
                for entry in entries
                if entry.record is not None and entry.tampered is None and entry.verified
                for line_id in entry.record.get("lines") or []
            }
            phone = conversation.channel == Channel.PHONE.value
            # Only the phone agent reads the number out; a chat or e-mail client sees their own.
            approval = await self._challenges.prompt(session, conversation) if phone else None
            left = (approval.expires_at - self._clock.now()).total_seconds() if approval else 0
            return ConversationView(
                status=store.status_of(
                    conversation, await store.active_request(session, conversation)
                ),
                channel=conversation.channel,
                client=redact(conversation.client),
                transcript=[_line(row, by_id, covered) for row in lines],
                requests=entries,
                change_intents=self._policies.change_intents,
                client_label="taken by" if phone else "client",
                approval=approval,
                approval_seconds_left=max(0, int(left)),
            )

    # -- commands, each one turn of the pipeline --------------------------------------------

    async def reply(self, staff: str, conversation_id: str, text: str) -> ChatMessage:
        outcome = await self._do(StaffReply(staff, conversation_id, text))
        return outcome.replies[0]

    async def request_verification(
        self,
        staff: str,
        conversation_id: str,
        line: int | None = None,
        intent: str | None = None,
    ) -> Status:
        """Have the bot verify what the client said (a line, by default the latest), as the
        change staff name; staff never handle the code."""
        return (await self._do(RequestVerification(staff, conversation_id, line, intent))).status

    async def phone_call(
        self, staff: str, stage_one: str, intent: str, text: str, language: str
    ) -> Status:
        """The hotline: a conversation of its own on channel `phone`, recorded as taken by the
        staff member, holding what the caller asks for until the caller approves it in the
        Client Panel. A call the pipeline refuses is closed at once, with nothing held."""
        if language not in PHONE_LANGUAGES:
            raise DeskError("choose the caller's language: pl or en")
        opened = await self._pipeline.open_conversation(Channel.PHONE, staff, language)
        conversation = opened.status.conversation
        outcome = await self._pipeline.handle(
            PhoneCall(staff, conversation, stage_one, intent, text)
        )
        if outcome.error:
            await self._pipeline.handle(CloseConversation(staff, conversation))
            raise DeskError(outcome.error)
        return outcome.status

    async def record_action(self, staff: str, ticket: str, text: str) -> dict[str, Any]:
        """What was changed, at whose request: joins the chain and closes the request."""
        async with self._sessions() as session:
            conversation_id = await session.scalar(
                select(ChangeRequest.conversation_id).where(ChangeRequest.ticket == ticket)
            )
        if conversation_id is None:
            raise DeskError("no such ticket")
        outcome = await self._do(RecordAction(staff, conversation_id, ticket, text))
        if outcome.record is None:
            raise RuntimeError("an action turn without its record")
        return outcome.record

    async def close(self, staff: str, conversation_id: str) -> Status:
        return (await self._do(CloseConversation(staff, conversation_id))).status

    async def _entry(self, session: AsyncSession, request: ChangeRequest) -> QueueEntry:
        """The row as staff see it, held against the chain: a row that differs is shown so, with
        nothing to act on."""
        chained = await records_of(session, request.ticket)
        tampered = disagreement(request, chained, await lines_for(session, [request], chained))
        own = [r for r in chained if r.seq == request.record_seq]
        if request.verification == Verification.DENIED_BY_CLIENT:
            own = [r for r in chained if r.kind == DENIAL][:1]  # what staff were told
        record = {**json.loads(own[0].body), "hash": own[0].hash} if own else None
        scope = scope_of(request)
        hold_until = (record or {}).get("hold_until")
        verified = verified_for_action(request, self._policies.change_intents)
        return QueueEntry(
            ticket=request.ticket,
            conversation=request.conversation_id,
            channel=request.channel,
            intent=request.intent,
            intents=scope.intents,
            status=request.status,
            verification=request.verification,
            stage_required=request.stage_required,
            service=redact(request.service) if request.service else None,
            services=tuple(redact(name) for name in scope.services),
            destinations=scope.destinations,
            login=request.login,
            request_text=request.request_text,
            requested_by_staff=request.requested_by_staff,
            created_at=request.created_at,
            hold_until=hold_until,
            on_hold=isinstance(hold_until, str)
            and datetime.fromisoformat(hold_until) > self._clock.now(),
            record=record,
            verified=verified,
            actionable=request.status == RequestStatus.FORWARDED and verified and not tampered,
            tampered=tampered,
        )

    async def _do(self, command: Command) -> Outcome:
        outcome = await self._pipeline.handle(command)
        if outcome.error:
            raise DeskError(outcome.error)
        return outcome


def _line(
    row: TranscriptMessage, requests: dict[int, ChangeRequest], covered_ids: set[int]
) -> TranscriptLine:
    request = requests.get(row.request_id) if row.request_id is not None else None
    covered = row.id in covered_ids
    if row.author == Author.UNPROVEN.value:
        covered = False  # a sender who proved nothing: never the verified client's words
    elif row.author != Author.CLIENT.value:
        covered = True  # only what clients say can ask for a change
    return TranscriptLine(store.chat_message(row), request.ticket if request else None, covered)


def entry_json(entry: QueueEntry) -> dict[str, Any]:
    """A queue entry as the console's live feed sends it."""
    data = dataclasses.asdict(entry)
    data["created_at"] = entry.created_at.isoformat()
    return data
