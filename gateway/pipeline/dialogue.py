"""The conversation's state machine as a pure function: (situation, message) → next step.

open → identify → authenticate → verified | locked, and closed. Kept free of I/O so every path,
including the hostile ones, is tested exhaustively and reviewed in one screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.pipeline.analysis import Analysis
from gateway.pipeline.model import Stage
from policies import Requirement


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
    FORWARD = "forward"  # a new request that needs nothing: straight to staff
    NOTE = "note"  # staff already have this conversation: the transcript is enough


@dataclass(frozen=True, slots=True)
class Situation:
    stage: Stage
    with_staff: bool  # some request of this conversation has been forwarded already


HOLDING_STAGES = frozenset({Stage.IDENTIFY, Stage.AUTHENTICATE})


def next_step(situation: Situation, message: Analysis) -> Step:
    stage = situation.stage
    if stage is Stage.CLOSED:
        return Step.REFUSE_CLOSED
    if stage is Stage.LOCKED:
        return Step.STAY_LOCKED
    if stage in HOLDING_STAGES:
        return _while_holding(stage, message)
    if message.cancel:  # a bare "cancel" is not a request to cancel a service
        return Step.NOTHING_TO_CANCEL
    if message.decision.requirement is not Requirement.NONE:
        return Step.HOLD
    if message.credentials is not None:
        return Step.NOTHING_TO_VERIFY
    return Step.NOTE if situation.with_staff else Step.FORWARD


def _while_holding(stage: Stage, message: Analysis) -> Step:
    if message.credentials is not None:
        return Step.VERIFY
    if message.cancel:
        return Step.CANCEL
    if stage is Stage.AUTHENTICATE:
        return Step.ASK_CREDENTIALS
    if message.services or message.valid_identifiers:
        return Step.IDENTIFY
    if message.identifiers:
        return Step.MISTYPED_IDENTIFIER
    return Step.ASK_IDENTIFY
