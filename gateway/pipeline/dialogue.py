"""The conversation's state machine as a pure function: (situation, what came in) → next step.

open → identify → authenticate → verified | locked, and closed. Whatever comes in takes this
one door: a client's line or form, and a staff member's command. Kept free of I/O so every
path, including the hostile ones, is tested exhaustively and reviewed in one screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.pipeline.analysis import Analysis
from gateway.pipeline.model import (
    CloseConversation,
    ContactDenial,
    ExpireHolds,
    PanelDecision,
    PhoneCall,
    RecordAction,
    RequestVerification,
    StaffCommand,
    StaffReply,
    Stage,
)
from gateway.pipeline.scope import Scope


class Step(StrEnum):
    REFUSE_CLOSED = "refuse_closed"
    STAY_LOCKED = "stay_locked"
    VERIFY = "verify"  # check the credentials against the held request
    NOTHING_TO_VERIFY = "nothing_to_verify"
    CANCEL = "cancel"
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    IDENTIFY = "identify"  # stage 1 answer: a service or a PESEL/NIP/REGON
    MISTYPED_IDENTIFIER = "mistyped_identifier"
    ASK_IDENTIFY = "ask_identify"
    ASK_CREDENTIALS = "ask_credentials"
    HOLD = "hold"  # a new request that needs identification or authentication
    HOLD_SEPARATELY = "hold_separately"  # while one is held, a line asking for something else
    FORWARD = "forward"  # a new request that needs nothing: straight to staff
    NOTE = "note"  # staff already have this conversation: the transcript is enough
    # Staff commands:
    STAFF_REPLY = "staff_reply"
    STAFF_HOLD = "staff_hold"  # what the client said becomes a held request
    RECORD_ACTION = "record_action"  # only on a verified request: the transition table decides
    CLOSE = "close"
    EXPIRE = "expire"  # the gateway's clock withdraws requests held too long
    REFUSE_STAFF = "refuse_staff"
    PHONE_HOLD = "phone_hold"  # a hotline agent opens the caller's request
    # The account holder, in the Client Panel, approves or denies a challenge of theirs:
    # whether it still stands is decided by the row itself (live, the request held).
    PANEL_DECIDE = "panel_decide"
    CONTACT_DENY = "contact_deny"  # the registered contact's "not me" link


@dataclass(frozen=True, slots=True)
class Situation:
    stage: Stage
    with_staff: bool  # some request of this conversation has been forwarded already
    # What the request the dialogue is on covers (None: there is none yet). A line naming a
    # service or destination beyond it is a request of its own, however it is worded.
    scope: Scope | None = None
    # The line came into a thread with staff from a sender who did not prove to be the
    # client: nothing it says joins the client's request; what it asks is a request of its own.
    stranger: bool = False


HOLDING_STAGES = frozenset({Stage.IDENTIFY, Stage.AUTHENTICATE})


def next_step(
    situation: Situation, message: Analysis | StaffCommand | PanelDecision | ContactDenial
) -> Step:
    if isinstance(message, PanelDecision):
        return Step.PANEL_DECIDE
    if isinstance(message, ContactDenial):
        return Step.CONTACT_DENY
    if isinstance(message, StaffCommand):
        return _staff_step(situation.stage, message)
    stage = situation.stage
    if stage is Stage.CLOSED:
        return Step.REFUSE_CLOSED
    if stage is Stage.LOCKED:
        return Step.STAY_LOCKED
    if stage in HOLDING_STAGES:
        return _while_holding(situation, message)
    if message.cancel:  # a bare "cancel" is not a request to cancel a service
        return Step.NOTHING_TO_CANCEL
    beyond = situation.scope is not None and situation.scope.reaches_beyond(message.scope)
    if message.asks or beyond:
        return Step.HOLD
    if message.credentials is not None:
        return Step.NOTHING_TO_VERIFY
    return Step.NOTE if situation.with_staff else Step.FORWARD


def _while_holding(situation: Situation, message: Analysis) -> Step:
    if situation.stranger:
        return _stranger_while_holding(situation, message)
    if message.cancel:
        return Step.CANCEL
    held, line = situation.scope or Scope(), message.scope
    identifying = situation.stage is Stage.IDENTIFY
    beyond = held.reaches_beyond(line, identifying=identifying)
    if beyond or (message.asks and not held.covers(line, identifying=identifying)):
        return Step.HOLD_SEPARATELY  # one verification covers one request
    if identifying and (message.services or message.valid_identifiers):
        # Credentials in the same line are checked once the request is bound to what it names.
        return Step.IDENTIFY
    if message.credentials is not None:
        return Step.VERIFY
    if situation.stage is Stage.AUTHENTICATE:
        return Step.ASK_CREDENTIALS
    if message.identifiers:
        return Step.MISTYPED_IDENTIFIER
    return Step.ASK_IDENTIFY


def _stranger_while_holding(situation: Situation, message: Analysis) -> Step:
    """A line from a sender who did not prove to be the client (a mail with no sender proof
    into a thread that holds a request). Its code proves itself; the answer to "which
    service?" binds the request (only the holder's code can then verify it); anything beyond
    the request is theirs, held apart; and nothing else it says joins what is verified (the
    steps leave an unproven line out of the request). A "cancel" cancels nothing."""
    held, line = situation.scope or Scope(), message.scope
    identifying = situation.stage is Stage.IDENTIFY
    names = message.services or message.valid_identifiers
    if identifying and names and not (message.asks or message.destinations):
        return Step.IDENTIFY
    beyond = held.reaches_beyond(line, identifying=identifying)
    if beyond or (message.asks and not held.covers(line, identifying=identifying)):
        return Step.HOLD_SEPARATELY
    if message.credentials is not None:
        return Step.VERIFY
    if situation.stage is Stage.AUTHENTICATE:
        return Step.ASK_CREDENTIALS
    return Step.ASK_IDENTIFY


def _staff_step(stage: Stage, command: StaffCommand) -> Step:
    if isinstance(command, RecordAction):
        return Step.RECORD_ACTION
    if stage is Stage.CLOSED:
        return Step.REFUSE_STAFF
    if isinstance(command, ExpireHolds):
        return Step.EXPIRE
    if isinstance(command, StaffReply):
        return Step.STAFF_REPLY
    if isinstance(command, CloseConversation):
        return Step.CLOSE
    if isinstance(command, PhoneCall):
        return Step.PHONE_HOLD if stage is Stage.OPEN else Step.REFUSE_STAFF
    if isinstance(command, RequestVerification) and stage is not Stage.LOCKED:
        return Step.STAFF_HOLD
    return Step.REFUSE_STAFF
