"""The dialogue's steps: one `_step_<name>` method per `dialogue.Step` (a test checks that each
has one), each a small piece of work inside the turn's transaction, after Mailman's workflows.

Client lines and staff commands alike are steps here: there is no second way in.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypeVar

from gateway.audit.agreement import request_disagreement
from gateway.audit.chain import AuditChain
from gateway.audit.records import ACTION, EXPIRY, action_record, expiry_record
from gateway.clock import Clock
from gateway.destinations import find_destinations
from gateway.identifiers import find_identifiers
from gateway.pipeline import store
from gateway.pipeline.analysis import Analysis
from gateway.pipeline.approving import PanelDecisions
from gateway.pipeline.client_mail import ClientMail
from gateway.pipeline.dialogue import Step
from gateway.pipeline.holding import Holds
from gateway.pipeline.model import (
    EXPIRY_ACTOR,
    Author,
    ChatMessage,
    ContactDenial,
    ExpireHolds,
    PanelDecision,
    PhoneCall,
    RecordAction,
    RequestStatus,
    RequestVerification,
    StaffCommand,
    StaffReply,
    Stage,
)
from gateway.pipeline.scope import Scope
from gateway.pipeline.transitions import Event, allowed, apply, verified_for_action
from gateway.pipeline.turn import Turn, Voice
from gateway.redaction import redact
from gateway.service_names import find_service_names
from gateway.storage.models import AuditRecord, ChangeRequest
from policies import Channel, Decision, PolicySet

C = TypeVar("C", bound=StaffCommand)
MAX_REPLY_LENGTH = 4000
MAX_ACTION_LENGTH = 2000
MAX_STAGE_ONE_LENGTH = 200
Subject = Analysis | StaffCommand | PanelDecision | ContactDenial


class Steps:
    def __init__(
        self,
        holds: Holds,
        voice: Voice,
        policies: PolicySet,
        chain: AuditChain,
        client_mail: ClientMail,
        clock: Clock,
        decisions: PanelDecisions,
    ) -> None:
        self.holds = holds
        self._decisions = decisions
        self.voice = voice
        self._policies = policies
        self._chain = chain
        self._client_mail = client_mail
        self._clock = clock

    async def run(self, step: Step, turn: Turn, subject: Subject) -> None:
        await getattr(self, f"_step_{step.value}")(turn, subject)

    # -- a client's line or form ------------------------------------------------------------

    async def _step_refuse_closed(self, turn: Turn, message: Analysis) -> None:
        turn.error = "closed"
        turn.verified = False if message.credentials else None

    async def _step_stay_locked(self, turn: Turn, message: Analysis) -> None:
        turn.verified = False if message.credentials else None
        if message.credentials is not None:
            self.holds.count_refusal(turn, "conversation_locked")  # no code is checked any more
        await self.voice.reply(turn, "locked")

    async def _step_note(self, turn: Turn, message: Analysis) -> None:
        """Staff already follow this conversation; the client's words are in the transcript,
        marked as covered by no verification."""

    async def _step_nothing_to_verify(self, turn: Turn, message: Analysis) -> None:
        turn.verified = False
        await self.voice.reply(turn, "nothing_to_verify")

    async def _step_forward(self, turn: Turn, message: Analysis) -> None:
        request = await self._open(turn, message, message.decision)
        self.holds.activate(turn, request)
        apply(Event.FORWARD_QUESTION, turn.conversation, request)
        await self.holds.forward(turn, request)
        await self.voice.reply(turn, "forwarded", ticket=request.ticket)

    async def _step_hold(self, turn: Turn, message: Analysis) -> None:
        request = await self._open(turn, message)
        self.holds.activate(turn, request)
        self.holds.identify(request, message.valid_identifiers)
        await self.holds.pursue(turn, message.credentials)

    async def _step_hold_separately(self, turn: Turn, message: Analysis) -> None:
        """Another change, service or destination while one request is held: a request of its
        own, waiting in line with its own ticket; credentials in the same line are for the one
        the client was asked to verify."""
        active = turn.active()
        queued = await self._open(turn, message)
        apply(Event.QUEUE, turn.conversation, queued)
        self.holds.identify(queued, message.valid_identifiers)
        await self.voice.about(turn, queued, "held_separately", active=active.ticket)
        if message.credentials is not None:
            await self.holds.verify(turn, message.credentials)
        elif turn.conversation.stage == Stage.IDENTIFY:
            await self.voice.about(turn, active, "ask_identify")
        else:
            await self.holds.ask_code(turn, active)

    async def _step_identify(self, turn: Turn, message: Analysis) -> None:
        await self.holds.join(turn, message)
        if not self.holds.identify(turn.active(), message.valid_identifiers):
            raise RuntimeError("identify step without a service or number")
        await self.holds.pursue(turn, message.credentials)

    async def _step_mistyped_identifier(self, turn: Turn, message: Analysis) -> None:
        await self.voice.reply(turn, "mistyped_identifier")

    async def _step_ask_identify(self, turn: Turn, message: Analysis) -> None:
        await self._join_if_asked(turn, message)
        await self.voice.about(turn, turn.active(), "ask_identify")

    async def _step_ask_credentials(self, turn: Turn, message: Analysis) -> None:
        await self._join_if_asked(turn, message)
        await self.holds.ask_code(turn, turn.active())

    async def _step_cancel(self, turn: Turn, message: Analysis) -> None:
        await self.holds.cancel(turn)

    async def _step_nothing_to_cancel(self, turn: Turn, message: Analysis) -> None:
        await self.voice.reply(turn, "nothing_to_cancel")

    async def _step_verify(self, turn: Turn, message: Analysis) -> None:
        if message.credentials is None:
            raise RuntimeError("verify step without credentials")
        await self._join_if_asked(turn, message)
        await self.holds.verify(turn, message.credentials)

    # -- a staff member's command -----------------------------------------------------------

    async def _step_staff_reply(self, turn: Turn, command: StaffCommand) -> None:
        text = _bounded(command, StaffReply).text.strip()
        if not text or len(text) > MAX_REPLY_LENGTH:
            turn.error = f"a reply must be 1 to {MAX_REPLY_LENGTH} characters"
            return
        conversation = turn.conversation
        line = await store.add_message(
            turn.session, conversation.id, Author.STAFF, redact(text), self._clock.now()
        )
        turn.replies.append(line)
        await self._mail_client(turn, [line], automatic=False)

    async def _step_staff_hold(self, turn: Turn, command: StaffCommand) -> None:
        """What the client said, named by staff as the change it is, held for the client's own
        verification. Staff choose the line and the kind of change, never the outcome."""
        wanted = _bounded(command, RequestVerification)
        session, conversation = turn.session, turn.conversation
        line = await store.client_line(session, conversation.id, wanted.line)
        if line is None:
            turn.error = "there is no such line of the client's to verify"
            return
        if line.request_id is not None:
            covering = await session.get(ChangeRequest, line.request_id)
            if covering is not None and _covers(covering, self._policies.change_intents):
                turn.error = f"that line is already part of request {covering.ticket}"
                return
        intent = wanted.intent or self._policies.change_intents[0]
        if intent not in self._policies.change_intents:
            turn.error = f"{intent!r} is not a change the policies know"
            return
        channel = Channel(conversation.channel)
        scope = Scope((intent,), tuple(find_service_names(line.text)), find_destinations(line.text))
        request = await self.holds.open(
            turn,
            self._policies.decide_as(intent, channel),
            scope,
            line.text,
            line.id,
            requested_by_staff=command.staff,
        )
        holding = turn.request is not None and turn.request.status == RequestStatus.HELD
        if holding and conversation.stage in (Stage.IDENTIFY, Stage.AUTHENTICATE):
            apply(Event.QUEUE, conversation, request)
        else:
            self.holds.activate(turn, request)
        await self.voice.about(turn, request, "verification_requested")
        if turn.request is request:
            self.holds.identify(request)
            await self.holds.pursue(turn)
        await self._mail_client(turn, turn.replies, automatic=True)

    async def _step_record_action(self, turn: Turn, command: StaffCommand) -> None:
        """What I changed, at whose request: only on a request verified to its policy's stage,
        after any cooling-off; the record joins the chain and closes the request."""
        wanted = _bounded(command, RecordAction)
        text = wanted.text.strip()
        if not text or len(text) > MAX_ACTION_LENGTH:
            turn.error = f"describe the action in 1 to {MAX_ACTION_LENGTH} characters"
            return
        session, now = turn.session, self._clock.now()
        request = await store.request_in(session, turn.conversation.id, wanted.ticket)
        if request is None:
            turn.error = "no such request in this conversation"
            return
        changes = self._policies.change_intents
        if not allowed(Event.RECORD_ACTION, turn.conversation, request) or not (
            verified_for_action(request, changes)
        ):
            turn.error = _why_not_actionable(request)
            return
        tampered = await request_disagreement(session, request)
        if tampered:  # the row was edited outside the gateway: the chain says otherwise
            turn.error = f"request {request.ticket} does not match the chain: {tampered}"
            return
        hold_until = await _hold_until(turn, request)
        if hold_until is not None and hold_until > now:
            turn.error = f"request {request.ticket} is on a cooling-off hold until {hold_until}"
            return
        masked = redact(text)
        fields = action_record(request, command.staff, masked, now)
        turn.record = await self._chain.append(session, ACTION, request.ticket, fields)
        apply(Event.RECORD_ACTION, turn.conversation, request)
        request.closed_at, request.closed_by, request.action_text = now, command.staff, masked
        turn.touch(request)

    async def _step_expire(self, turn: Turn, command: StaffCommand) -> None:
        """Withdraw what waited for the client's code since before the cutoff; tell the client
        on its channel and the chain; the next younger request, if any, comes up."""
        wanted = _bounded(command, ExpireHolds)
        now, expired = self._clock.now(), []
        active = turn.conversation.active_request_id
        for request in await store.held_requests(turn.session, turn.conversation.id):
            if request.created_at >= wanted.cutoff:
                continue
            event = Event.EXPIRE_ACTIVE if request.id == active else Event.EXPIRE
            apply(event, turn.conversation, request)
            request.closed_at, request.closed_by = now, EXPIRY_ACTOR
            hours = int((now - request.created_at).total_seconds() // 3600)
            fields = expiry_record(request, hours, now)
            turn.record = await self._chain.append(turn.session, EXPIRY, request.ticket, fields)
            turn.touch(request)
            expired.append(request)
        if not expired:
            return
        for request in expired:
            await self.voice.reply(turn, "expired", ticket=request.ticket)
        if any(request.id == active for request in expired):
            turn.request = None
            turn.conversation.active_request_id = None
            await self.holds.next_in_line(turn)
        await self._mail_client(turn, turn.replies, automatic=True)

    async def _step_close(self, turn: Turn, command: StaffCommand) -> None:
        for waiting in await store.held_requests(turn.session, turn.conversation.id):
            apply(Event.WITHDRAW, turn.conversation, waiting)
            waiting.closed_at = self._clock.now()
            turn.touch(waiting)
        apply(Event.CLOSE, turn.conversation)

    async def _step_phone_hold(self, turn: Turn, command: StaffCommand) -> None:
        """The hotline: the agent states stage 1 and the change as the caller gives them; the
        request is held on channel `phone` and offered to the holder in the Client Panel. The
        agent's console shows the number to read out; no code is said or typed anywhere."""
        call = _bounded(command, PhoneCall)
        session, conversation = turn.session, turn.conversation
        if conversation.channel != Channel.PHONE.value or conversation.active_request_id:
            turn.error = "a phone call is taken in a conversation of its own"
            return
        if call.intent not in self._policies.change_intents:
            turn.error = f"{call.intent!r} is not a change the policies know"
            return
        text, stage_one = call.text.strip(), call.stage_one.strip()
        if not text or len(text) > MAX_ACTION_LENGTH:
            turn.error = f"describe the request in 1 to {MAX_ACTION_LENGTH} characters"
            return
        if not stage_one or len(stage_one) > MAX_STAGE_ONE_LENGTH:
            turn.error = "give the service the caller names, or their PESEL, NIP or REGON"
            return
        named = find_service_names(stage_one)
        numbers = [found for found in find_identifiers(stage_one) if found.valid]
        if not named and not numbers:
            turn.error = (
                "stage 1 needs a service name, or a PESEL, NIP or REGON whose checksum is "
                "right: check the number with the caller"
            )
            return
        masked = redact(text)
        said = await store.add_message(
            session, conversation.id, Author.STAFF, masked, self._clock.now()
        )
        turn.replies.append(said)
        services = tuple(dict.fromkeys([*named, *find_service_names(text)]))
        scope = Scope((call.intent,), services, find_destinations(text))
        decision = self._policies.decide_as(call.intent, Channel.PHONE)
        request = await self.holds.open(
            turn, decision, scope, masked, None, requested_by_staff=command.staff
        )
        self.holds.activate(turn, request)
        self.holds.identify(request, numbers)
        await self.holds.pursue(turn)

    async def _step_panel_decide(self, turn: Turn, command: PanelDecision) -> None:
        await self._decisions.decide(turn, command)
        await self._mail_client(turn, turn.replies, automatic=True)

    async def _step_contact_deny(self, turn: Turn, command: ContactDenial) -> None:
        await self._decisions.deny_by_link(turn, command)
        await self._mail_client(turn, turn.replies, automatic=True)

    async def _step_refuse_staff(self, turn: Turn, command: StaffCommand) -> None:
        turn.error = f"the conversation is {turn.conversation.stage}"

    # -- the pieces the steps share ---------------------------------------------------------

    async def _open(
        self, turn: Turn, message: Analysis, decision: Decision | None = None
    ) -> ChangeRequest:
        """A request of the line's own: what it was recognised as, or, when only its shape
        (another service, another destination) says it asks for something, a change of an
        unknown kind, which fails closed."""
        if decision is None:
            decision = message.decision
            if not message.asks:
                catch_all = self._policies.change_intents[0]
                channel = Channel(turn.conversation.channel)
                decision = self._policies.decide_as(catch_all, channel)
        line = turn.line
        text = line.text if line else ""
        scope = Scope(decision.scope, message.services, message.destinations)
        return await self.holds.open(turn, decision, scope, text, line.id if line else None)

    async def _join_if_asked(self, turn: Turn, message: Analysis) -> None:
        """More words about the same request (the dialogue checked its scope) join it, but only
        the client's own: a line of unproven authorship (a mail with no sender proof) stays
        apart in the transcript, so what the client's code verifies never includes it."""
        unproven = turn.line is not None and turn.line.author is Author.UNPROVEN
        if message.asks and not unproven:
            await self.holds.join(turn, message)

    async def _mail_client(
        self, turn: Turn, messages: list[ChatMessage], *, automatic: bool
    ) -> None:
        """An e-mail client reads the conversation in their mailbox: staff's words and the
        bot's go there too, in the same transaction."""
        conversation = turn.conversation
        if conversation.channel != Channel.EMAIL.value or not messages:
            return
        ticket = turn.request.ticket if turn.request else None
        ticket = ticket or await store.latest_ticket(turn.session, conversation.id)
        texts = [message.text for message in messages]
        await self._client_mail.send(
            turn.session, conversation, texts, ticket=ticket, automatic=automatic
        )


def _bounded(command: StaffCommand, kind: type[C]) -> C:
    if not isinstance(command, kind):
        raise RuntimeError(f"{kind.__name__} step given {type(command).__name__}")
    return command


def _covers(request: ChangeRequest, change_intents: tuple[str, ...]) -> bool:
    """A request that is, or may still become, a verification of a change it holds."""
    return request.status == RequestStatus.HELD or verified_for_action(request, change_intents)


def _why_not_actionable(request: ChangeRequest) -> str:
    if request.status == RequestStatus.FORWARDED:
        return (
            f"request {request.ticket} was not verified ({request.verification}): answer it, "
            "or request verification to turn it into a change the client must confirm"
        )
    return f"request {request.ticket} is {request.status}: no action can be recorded"


async def _hold_until(turn: Turn, request: ChangeRequest) -> datetime | None:
    """The cooling-off hold as the verification record fixed it (the row's duties are not
    asked: the record is what cannot be edited unseen)."""
    if request.record_seq is None:
        return None
    row = await turn.session.get(AuditRecord, request.record_seq)
    if row is None:
        return None
    value = json.loads(row.body).get("hold_until")
    return datetime.fromisoformat(value) if isinstance(value, str) else None
