"""Every change of a conversation's stage and of a request's status, in one table.

A step says what happened (an `Event`); the table says what that does to the conversation and
to the request, and refuses it from anywhere it may not happen. The gate staff act through is a
row here: an action is recorded only on a request forwarded as verified to its policy's stage.
Nothing else in the code assigns `Conversation.stage` or `ChangeRequest.status`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from gateway.pipeline.model import RequestStatus, Stage, Verification
from gateway.storage.models import ChangeRequest, Conversation
from policies import Requirement


class Event(StrEnum):
    ASK_IDENTIFICATION = "ask_identification"  # the active request needs stage 1
    ASK_CODE = "ask_code"  # the active request needs stage 2
    QUEUE = "queue"  # a request of its own, waiting behind the active one
    FORWARD_QUESTION = "forward_question"  # needs nothing: with staff, no action possible
    IDENTIFY = "identify"  # stage 1 was all it needed, and an account holds what it names
    UNMATCH = "unmatch"  # stage 1 was all it needed, and no account does: console only
    VERIFY = "verify"  # the client's code verified it: with staff, actionable
    LOCK = "lock"  # the conversation ran out of attempts
    CANCEL = "cancel"  # the client withdrew the active request
    WITHDRAW = "withdraw"  # a queued one goes with its conversation (closed by staff)
    EXPIRE_ACTIVE = "expire_active"  # the request worked on was held too long: withdrawn
    EXPIRE = "expire"  # one queued behind it was, too
    DENY = "deny"  # the account holder said "not me": cancelled, the conversation locked
    RECORD_ACTION = "record_action"  # staff recorded what they changed: closed
    CLOSE = "close"  # staff closed the conversation


class IllegalTransition(RuntimeError):
    """A step asked for a change the table does not allow from where things are."""


def verified_to_its_stage(request: ChangeRequest) -> bool:
    """The only requests staff may act on."""
    if request.verification == Verification.VERIFIED:
        return True
    return (
        request.verification == Verification.IDENTIFIED
        and request.stage_required == Requirement.IDENTIFIED
    )


def verified_for_action(request: ChangeRequest, change_intents: Collection[str]) -> bool:
    """What staff may record a change on: verified by the client's code, or identified where
    that is all a *change* of its kind needs. A question identified at stage 1 is answered, not
    acted on: a change the recogniser missed inside it must not ride on stage 1 alone; staff
    turn it into a held request with *request verification*."""
    if not verified_to_its_stage(request):
        return False
    if request.verification == Verification.VERIFIED:
        return True
    intents = json.loads(request.intents or "[]") or [request.intent]
    return any(name in change_intents for name in intents)


@dataclass(frozen=True, slots=True)
class Rule:
    stages: frozenset[Stage]  # where the conversation may be
    stage: Stage | None = None  # where it goes (None: it stays)
    statuses: frozenset[RequestStatus] = frozenset()  # where the request may be (empty: none)
    status: RequestStatus | None = None
    verification: Verification | None = None
    guard: Callable[[ChangeRequest], bool] | None = None


_HOLDING = frozenset({Stage.IDENTIFY, Stage.AUTHENTICATE})
_FREE = frozenset({Stage.OPEN, Stage.VERIFIED})
_LIVE = _HOLDING | _FREE
_HELD = frozenset({RequestStatus.HELD})

TABLE: Mapping[Event, Rule] = MappingProxyType(
    {
        Event.ASK_IDENTIFICATION: Rule(_LIVE, Stage.IDENTIFY, _HELD, RequestStatus.HELD),
        Event.ASK_CODE: Rule(_LIVE, Stage.AUTHENTICATE, _HELD, RequestStatus.HELD),
        Event.QUEUE: Rule(_HOLDING, None, _HELD, RequestStatus.HELD),
        Event.FORWARD_QUESTION: Rule(
            _FREE, None, _HELD, RequestStatus.FORWARDED, Verification.NOT_REQUIRED
        ),
        Event.IDENTIFY: Rule(
            _LIVE, Stage.OPEN, _HELD, RequestStatus.FORWARDED, Verification.IDENTIFIED
        ),
        Event.UNMATCH: Rule(
            _LIVE, Stage.OPEN, _HELD, RequestStatus.UNMATCHED, Verification.UNMATCHED
        ),
        Event.VERIFY: Rule(
            _HOLDING, Stage.VERIFIED, _HELD, RequestStatus.FORWARDED, Verification.VERIFIED
        ),
        Event.LOCK: Rule(_HOLDING | {Stage.LOCKED}, Stage.LOCKED, _HELD, RequestStatus.LOCKED),
        Event.CANCEL: Rule(_HOLDING, Stage.OPEN, _HELD, RequestStatus.CANCELLED),
        Event.WITHDRAW: Rule(_LIVE, None, _HELD, RequestStatus.CANCELLED),
        Event.EXPIRE_ACTIVE: Rule(_HOLDING, Stage.OPEN, _HELD, RequestStatus.EXPIRED),
        Event.EXPIRE: Rule(_LIVE, None, _HELD, RequestStatus.EXPIRED),
        Event.DENY: Rule(
            _LIVE | {Stage.LOCKED},
            Stage.LOCKED,
            frozenset({RequestStatus.HELD, RequestStatus.FORWARDED}),  # not yet acted on
            RequestStatus.CANCELLED,
            Verification.DENIED_BY_CLIENT,
        ),
        Event.RECORD_ACTION: Rule(
            frozenset(Stage) - {Stage.CLOSED},
            None,
            frozenset({RequestStatus.FORWARDED}),
            RequestStatus.CLOSED,
            guard=verified_to_its_stage,
        ),
        Event.CLOSE: Rule(frozenset(Stage) - {Stage.CLOSED}, Stage.CLOSED),
    }
)


def allowed(event: Event, conversation: Conversation, request: ChangeRequest | None) -> bool:
    rule = TABLE[event]
    if Stage(conversation.stage) not in rule.stages:
        return False
    if not rule.statuses:
        return request is None
    if request is None or RequestStatus(request.status) not in rule.statuses:
        return False
    return rule.guard is None or rule.guard(request)


def apply(event: Event, conversation: Conversation, request: ChangeRequest | None = None) -> None:
    """Make the change, or raise: a step that asks for a forbidden one is a bug to stop at."""
    if not allowed(event, conversation, request):
        where = f"{conversation.stage}/{request.status if request is not None else '-'}"
        raise IllegalTransition(f"{event} is not allowed from {where}")
    rule = TABLE[event]
    if rule.stage is not None:
        conversation.stage = rule.stage
    if request is not None and rule.status is not None:
        request.status = rule.status
        if rule.verification is not None:
            request.verification = rule.verification
