"""The pipeline: the one door for every actor. A client's line or form and a staff member's
command alike become a turn: the dialogue's decision and its step.

Each turn is one database transaction: the transcript, the request, the code check, the record
and the deliveries it causes commit together or not at all; replies and live events leave only
after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.approvals.challenges import Challenges
from gateway.clock import Clock
from gateway.lifecycle import InFlight
from gateway.pipeline import store
from gateway.pipeline.analysis import MAX_ANALYSED_CHARS, Analysis, analyse
from gateway.pipeline.dialogue import Situation, Step, next_step
from gateway.pipeline.events import EventHub
from gateway.pipeline.model import (
    Author,
    ChatMessage,
    Command,
    ContactDenial,
    Inbound,
    Outcome,
    PanelDecision,
    StaffCommand,
    Stage,
    Status,
)
from gateway.pipeline.replies import pick_language
from gateway.pipeline.resume import ResumeTokens
from gateway.pipeline.scope import Scope, scope_of
from gateway.pipeline.states import ConversationStates, can_take_note
from gateway.pipeline.steps import Steps, Subject
from gateway.pipeline.transcript_writer import TranscriptWriter
from gateway.pipeline.turn import Turn
from gateway.redaction import redact
from gateway.storage.models import Conversation
from policies import Channel, PolicySet

UnknownConversation = store.UnknownConversation
AfterCommit = Callable[[], Awaitable[None]]
QUIET_STEPS = frozenset({Step.NOTE, Step.REFUSE_CLOSED, Step.REFUSE_STAFF, Step.STAFF_REPLY})
MAX_SUBJECT = 500  # the column's length


@dataclass(frozen=True, slots=True)
class Opened:
    status: Status
    resume_token: str
    replies: tuple[ChatMessage, ...]


class Pipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicySet,
        steps: Steps,
        events: EventHub,
        writer: TranscriptWriter,
        clock: Clock,
        db_slots: AbstractAsyncContextManager[Any],
        tokens: ResumeTokens,
        challenges: Challenges,
    ) -> None:
        """`db_slots` bounds the turns holding a database session at once: a burst of a
        thousand new chats then waits in line cheaply instead of each holding a session (and
        its memory) while queueing for the connection pool."""
        self._sessions = sessions
        self._policies = policies
        self.steps = steps
        self.events = events
        self._clock = clock
        self._writer = writer
        self._db_slots = db_slots
        self._tokens = tokens
        self._challenges = challenges
        self.states = ConversationStates()
        self.turns = InFlight()  # shutdown lets these commit before closing the database
        events.subscribe(self.states)
        # A lock lives only while a turn holds or awaits it.
        self._turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def open_conversation(
        self, channel: Channel, client: str = "", language: str | None = None
    ) -> Opened:
        """A new conversation whose first message is the notice that it is recorded."""
        with self.turns.track():
            async with self._db_slots, self._sessions.begin() as session:
                opened = await self.open_within(session, channel, client, language)
        self.states.remember(opened.status, with_staff=False, language=pick_language(language))
        return opened

    async def open_within(
        self,
        session: AsyncSession,
        channel: Channel,
        client: str = "",
        language: str | None = None,
        subject: str | None = None,
    ) -> Opened:
        conversation, token = store.new_conversation(
            channel.value, client, pick_language(language), self._clock.now(), self._tokens
        )
        conversation.subject = redact(subject)[:MAX_SUBJECT] if subject else None
        session.add(conversation)
        notice = await self.steps.voice.say(session, conversation, "notice")
        return Opened(store.status_of(conversation, None), token, (notice,))

    async def resume(self, conversation_id: str, token: str) -> Status | None:
        """The conversation's status if the token is its resume token, else None."""
        async with self._db_slots, self._sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not self._tokens.matches(conversation, token):
                return None
            return await self._status(session, conversation)

    async def _status(self, session: AsyncSession, conversation: Conversation) -> Status:
        status = store.status_of(conversation, await store.active_request(session, conversation))
        approval = await self._challenges.prompt(session, conversation)
        return dataclasses.replace(status, approval=approval) if approval else status

    def resume_token(self, conversation_id: str) -> str:
        """What a client must present to resume; any node states the same one."""
        return self._tokens.issue(conversation_id)

    async def transcript(self, conversation_id: str) -> list[ChatMessage]:
        async with self._db_slots, self._sessions() as session:
            return await store.read_transcript(session, conversation_id)

    async def close_writer(self) -> None:
        await self._writer.close()

    async def handle(self, command: Command) -> Outcome:
        """One turn, committed, then told to the live views. Turns of one conversation run one
        at a time, in the order they arrived, whoever takes them."""
        lock = self._turn_locks.get(command.conversation)
        if lock is None:
            lock = self._turn_locks[command.conversation] = asyncio.Lock()
        with self.turns.track():
            async with lock:
                if isinstance(command, StaffCommand | PanelDecision | ContactDenial):
                    return await self._full_turn(command, command)
                return await self._handle_in_turn(command)

    async def _handle_in_turn(self, inbound: Inbound) -> Outcome:
        message = _analyse(self._policies, inbound)
        known = self.states.get(inbound.conversation)
        if inbound.text and can_take_note(known) and known is not None:
            # Known to be with staff, its scope unknown here: a line naming any service or
            # destination takes the full turn, which compares it with the request's scope.
            situation = Situation(known.status.stage, with_staff=True, scope=Scope())
            if next_step(situation, message) is Step.NOTE:
                return await self._note(inbound, known.status)
        return await self._full_turn(inbound, message)

    async def _note(self, inbound: Inbound, status: Status) -> Outcome:
        """The common turn — more words for staff who already have the conversation — without
        a transaction of its own: the line joins the next group commit."""
        author = _author(inbound, earlier=True)
        said = await self._writer.append(inbound.conversation, author, redact(inbound.said))
        await self.events.message(inbound.conversation, said)
        return Outcome(status, (), said.id)

    async def _full_turn(self, command: Command, subject: Subject) -> Outcome:
        async with self._db_slots, self._sessions.begin() as session:
            outcome, after_commit = await self._turn(session, command, subject)
        await after_commit()
        return outcome

    async def handle_within(
        self, session: AsyncSession, inbound: Inbound
    ) -> tuple[Outcome, AfterCommit]:
        """A turn inside the caller's transaction, for a channel whose own bookkeeping must
        commit with the turn (the mail spool's "processed" mark: exactly once). The caller
        awaits the returned callable once it has committed."""
        message = _analyse(self._policies, inbound)
        return await self._turn(session, inbound, message)

    async def _turn(
        self, session: AsyncSession, command: Command, subject: Subject
    ) -> tuple[Outcome, AfterCommit]:
        conversation = await store.locked_conversation(session, command.conversation)
        request = await store.active_request(session, conversation)
        turn = Turn(session, conversation, request, command)
        with_staff = await store.has_forwarded(session, conversation.id)
        stage = Stage(conversation.stage)
        scope = scope_of(request) if request is not None else None
        # A mail into a thread that already holds a request speaks for the client only with its
        # sender's proof: a forged "addendum" must not join what the client's code verifies.
        earlier = with_staff or request is not None
        author = _author(command, earlier) if isinstance(command, Inbound) else None
        stranger = author is Author.UNPROVEN
        step = next_step(Situation(stage, with_staff, scope, stranger), subject)
        line = command.said if isinstance(command, Inbound) else ""
        if author is not None and line and step is not Step.REFUSE_CLOSED:
            turn.line = await store.add_message(
                session,
                conversation.id,
                author,
                redact(line[:MAX_ANALYSED_CHARS], expecting_code=stage is Stage.AUTHENTICATE),
                self._clock.now(),
            )
        await self.steps.run(step, turn, subject)
        if turn.error is None:
            conversation.updated_at = self._clock.now()
        status = store.status_of(conversation, turn.request)
        approval = await self._challenges.prompt(session, conversation)
        status = dataclasses.replace(status, approval=approval) if approval else status
        forwarded = turn.request is not None and turn.request.status in store.HANDED_TO_STAFF
        language = conversation.language

        async def after_commit() -> None:
            if conversation.channel == Channel.CHAT.value:  # mail never takes the fast path
                self.states.remember(status, with_staff or forwarded, language)
            await self._publish(status, turn, step)

        said = turn.line or (turn.replies[0] if step is Step.STAFF_REPLY and turn.replies else None)
        message_id = said.id if said else None
        outcome = Outcome(
            status,
            tuple(turn.replies),
            message_id,
            turn.error,
            turn.verified,
            turn.record,
            turn.panel,
        )
        return outcome, after_commit

    async def _publish(self, status: Status, turn: Turn, step: Step) -> None:
        for line in ([turn.line] if turn.line else []) + turn.replies:
            await self.events.message(status.conversation, line)
        if step not in QUIET_STEPS:
            await self.events.status(status)
        for ticket in turn.touched:
            await self.events.request(ticket)


def _analyse(policies: PolicySet, inbound: Inbound) -> Analysis:
    return analyse(policies, inbound.channel, inbound.text, inbound.credentials, inbound.said)


def _author(inbound: Inbound, earlier: bool) -> Author:
    """Who a line is from as staff may take it. A chat line comes over the client's own session;
    an e-mail's envelope sender proves nothing, so a mail into a conversation that holds a
    request already (held or with staff) keeps the client's voice only with its sender
    authenticated (aligned DKIM, or the trusted MTA's Authentication-Results): anyone who knows
    a ticket can forge the rest. Its code still counts: a code proves itself."""
    proven = inbound.channel is not Channel.EMAIL or inbound.sender_authentication == "pass"
    return Author.CLIENT if proven or not earlier else Author.UNPROVEN
