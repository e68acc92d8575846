"""The state machine as a pure function: every stage against every kind of message."""

from __future__ import annotations

import pytest

from gateway.credentials import Credentials
from gateway.identifiers import FoundIdentifier, IdentifierKind
from gateway.pipeline.analysis import Analysis
from gateway.pipeline.dialogue import Situation, Step, next_step
from gateway.pipeline.model import Stage
from policies import Decision, Duties, Requirement

CHANGE = Decision("domain_transfer", Requirement.AUTHENTICATED, Duties(), True)
STATUS_QUESTION = Decision("service_status", Requirement.IDENTIFIED, Duties(), False)
QUESTION = Decision("general_question", Requirement.NONE, Duties(), False)
CREDENTIALS = Credentials(login="jan.kowalski", code="123456")
PESEL_OK = FoundIdentifier(IdentifierKind.PESEL, "44051401359", True, (0, 11))
PESEL_BAD = FoundIdentifier(IdentifierKind.PESEL, "44051401358", False, (0, 11))


def message(
    decision: Decision = QUESTION,
    services: tuple[str, ...] = (),
    identifiers: tuple[FoundIdentifier, ...] = (),
    credentials: Credentials | None = None,
    cancel: bool = False,
) -> Analysis:
    return Analysis(
        decision,
        "en",
        credentials=credentials,
        cancel=cancel,
        services=services,
        identifiers=identifiers,
    )


def step(stage: Stage, analysis: Analysis, with_staff: bool = False) -> Step:
    return next_step(Situation(stage, with_staff), analysis)


@pytest.mark.parametrize("analysis", [message(), message(CHANGE, credentials=CREDENTIALS)])
def test_closed_refuses_and_locked_stays_locked(analysis: Analysis) -> None:
    assert step(Stage.CLOSED, analysis) is Step.REFUSE_CLOSED
    assert step(Stage.LOCKED, analysis) is Step.STAY_LOCKED


@pytest.mark.parametrize("stage", [Stage.OPEN, Stage.VERIFIED])
def test_new_requests(stage: Stage) -> None:
    assert step(stage, message(CHANGE)) is Step.HOLD
    assert step(stage, message(CHANGE, credentials=CREDENTIALS)) is Step.HOLD
    assert step(stage, message(STATUS_QUESTION)) is Step.HOLD
    assert step(stage, message(QUESTION)) is Step.FORWARD
    assert step(stage, message(QUESTION), with_staff=True) is Step.NOTE
    assert step(stage, message(QUESTION, credentials=CREDENTIALS)) is Step.NOTHING_TO_VERIFY
    assert step(stage, message(CHANGE, cancel=True)) is Step.NOTHING_TO_CANCEL


def test_while_identifying() -> None:
    assert step(Stage.IDENTIFY, message(services=("example.pl",))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_OK,))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_BAD,))) is Step.MISTYPED_IDENTIFIER
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_BAD, PESEL_OK))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message()) is Step.ASK_IDENTIFY
    assert step(Stage.IDENTIFY, message(CHANGE)) is Step.ASK_IDENTIFY
    assert step(Stage.IDENTIFY, message(credentials=CREDENTIALS)) is Step.VERIFY
    assert step(Stage.IDENTIFY, message(cancel=True)) is Step.CANCEL


def test_while_authenticating() -> None:
    assert step(Stage.AUTHENTICATE, message(credentials=CREDENTIALS)) is Step.VERIFY
    assert step(Stage.AUTHENTICATE, message(services=("example.pl",))) is Step.ASK_CREDENTIALS
    assert step(Stage.AUTHENTICATE, message(CHANGE)) is Step.ASK_CREDENTIALS
    assert step(Stage.AUTHENTICATE, message(cancel=True)) is Step.CANCEL


def test_every_stage_and_message_has_a_step() -> None:
    analyses = [
        message(decision, services, identifiers, credentials, cancel)
        for decision in (CHANGE, STATUS_QUESTION, QUESTION)
        for services in ((), ("example.pl",))
        for identifiers in ((), (PESEL_OK,), (PESEL_BAD,))
        for credentials in (None, CREDENTIALS)
        for cancel in (False, True)
    ]
    for stage in Stage:
        for analysis in analyses:
            for with_staff in (False, True):
                assert isinstance(step(stage, analysis, with_staff), Step)
