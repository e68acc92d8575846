"""The state machine as a pure function: every stage against every kind of message and command."""

from __future__ import annotations

import pytest

from gateway.credentials import Credentials
from gateway.identifiers import FoundIdentifier, IdentifierKind
from gateway.pipeline.analysis import Analysis
from gateway.pipeline.dialogue import Situation, Step, next_step
from gateway.pipeline.model import (
    CloseConversation,
    ContactDenial,
    PanelChoice,
    PanelDecision,
    PhoneCall,
    RecordAction,
    RequestVerification,
    StaffCommand,
    StaffReply,
    Stage,
)
from gateway.pipeline.scope import Scope
from policies import Decision, Duties, Requirement

CHANGE = Decision("domain_transfer", Requirement.AUTHENTICATED, Duties(), True)
OTHER_CHANGE = Decision("dns_change", Requirement.AUTHENTICATED, Duties(), True)
BOTH = Decision(
    "domain_transfer", Requirement.AUTHENTICATED, Duties(), True, ("domain_transfer", "dns_change")
)
STATUS_QUESTION = Decision("service_status", Requirement.IDENTIFIED, Duties(), False)
QUESTION = Decision("general_question", Requirement.NONE, Duties(), False)
CREDENTIALS = Credentials(login="jan.kowalski", code="123456")
PESEL_OK = FoundIdentifier(IdentifierKind.PESEL, "44051401359", True, (0, 11))
PESEL_BAD = FoundIdentifier(IdentifierKind.PESEL, "44051401358", False, (0, 11))
HELD_TRANSFER = Scope(("domain_transfer",))
HELD_TRANSFER_OF = Scope(("domain_transfer",), ("example.pl",))


def message(
    decision: Decision = QUESTION,
    services: tuple[str, ...] = (),
    identifiers: tuple[FoundIdentifier, ...] = (),
    credentials: Credentials | None = None,
    cancel: bool = False,
    destinations: tuple[str, ...] = (),
) -> Analysis:
    return Analysis(
        decision,
        "en",
        credentials=credentials,
        cancel=cancel,
        services=services,
        identifiers=identifiers,
        destinations=destinations,
    )


def step(
    stage: Stage,
    analysis: Analysis | StaffCommand | PanelDecision | ContactDenial,
    with_staff: bool = False,
    scope: Scope | None = None,
) -> Step:
    if scope is None and stage in (Stage.IDENTIFY, Stage.AUTHENTICATE):
        scope = HELD_TRANSFER if stage is Stage.IDENTIFY else HELD_TRANSFER_OF
    return next_step(Situation(stage, with_staff, scope), analysis)


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


@pytest.mark.parametrize("stage", [Stage.OPEN, Stage.VERIFIED])
def test_after_a_request_a_line_naming_beyond_it_is_held_whatever_its_words(stage: Stage) -> None:
    """The recogniser saw a question; the line names another service or a destination."""
    verified = Scope(("domain_transfer",), ("example.pl",))
    beyond_service = message(QUESTION, services=("other.pl",))
    beyond_destination = message(QUESTION, destinations=("evil@attacker.example",))
    same = message(QUESTION, services=("example.pl",))
    for line in (beyond_service, beyond_destination):
        assert step(stage, line, with_staff=True, scope=verified) is Step.HOLD
    assert step(stage, same, with_staff=True, scope=verified) is Step.NOTE
    # With no request yet, the recogniser alone decides (plus its own fail-closed rules).
    assert step(stage, beyond_destination, scope=None) is Step.FORWARD


def test_while_identifying() -> None:
    assert step(Stage.IDENTIFY, message(services=("example.pl",))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_OK,))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_BAD,))) is Step.MISTYPED_IDENTIFIER
    assert step(Stage.IDENTIFY, message(identifiers=(PESEL_BAD, PESEL_OK))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message()) is Step.ASK_IDENTIFY
    assert step(Stage.IDENTIFY, message(CHANGE)) is Step.ASK_IDENTIFY
    assert step(Stage.IDENTIFY, message(CHANGE, services=("example.pl",))) is Step.IDENTIFY
    assert step(Stage.IDENTIFY, message(credentials=CREDENTIALS)) is Step.VERIFY
    assert step(Stage.IDENTIFY, message(cancel=True)) is Step.CANCEL


def test_while_authenticating() -> None:
    assert step(Stage.AUTHENTICATE, message(credentials=CREDENTIALS)) is Step.VERIFY
    assert step(Stage.AUTHENTICATE, message(services=("example.pl",))) is Step.ASK_CREDENTIALS
    assert step(Stage.AUTHENTICATE, message(CHANGE)) is Step.ASK_CREDENTIALS
    assert step(Stage.AUTHENTICATE, message(cancel=True)) is Step.CANCEL


@pytest.mark.parametrize("stage", [Stage.IDENTIFY, Stage.AUTHENTICATE])
def test_while_holding_anything_beyond_the_request_is_a_request_of_its_own(stage: Stage) -> None:
    beyond = [
        message(OTHER_CHANGE),  # another kind of change
        message(BOTH),  # the same kind, and another one
        message(STATUS_QUESTION),  # a question that needs stage 1 of its own
        message(QUESTION, destinations=("evil@attacker.example",)),  # unrecognised, new target
        message(CHANGE, destinations=("203.0.113.66",), credentials=CREDENTIALS),
    ]
    if stage is Stage.AUTHENTICATE:
        beyond.append(message(QUESTION, services=("victim.pl",)))  # another service
        beyond.append(message(CHANGE, services=("example.pl", "victim.pl")))
    for line in beyond:
        assert step(stage, line) is Step.HOLD_SEPARATELY


def test_staff_commands_take_the_same_door() -> None:
    reply = StaffReply("anna", "c1", "Hello")
    verification = RequestVerification("anna", "c1")
    action = RecordAction("anna", "c1", "T-AAAAAA", "done")
    close = CloseConversation("anna", "c1")
    for stage in (Stage.OPEN, Stage.IDENTIFY, Stage.AUTHENTICATE, Stage.VERIFIED):
        assert step(stage, reply) is Step.STAFF_REPLY
        assert step(stage, verification) is Step.STAFF_HOLD
        assert step(stage, action) is Step.RECORD_ACTION  # the transition table decides
        assert step(stage, close) is Step.CLOSE
    assert step(Stage.LOCKED, verification) is Step.REFUSE_STAFF
    assert step(Stage.LOCKED, reply) is Step.STAFF_REPLY
    for command in (reply, verification, close):
        assert step(Stage.CLOSED, command) is Step.REFUSE_STAFF


def test_every_stage_and_message_has_a_step() -> None:
    analyses = [
        message(decision, services, identifiers, credentials, cancel, destinations)
        for decision in (CHANGE, OTHER_CHANGE, STATUS_QUESTION, QUESTION)
        for services in ((), ("example.pl",), ("victim.pl",))
        for identifiers in ((), (PESEL_OK,), (PESEL_BAD,))
        for credentials in (None, CREDENTIALS)
        for cancel in (False, True)
        for destinations in ((), ("evil@attacker.example",))
    ]
    for stage in Stage:
        for analysis in analyses:
            for with_staff in (False, True):
                for scope in (None, Scope(), HELD_TRANSFER_OF):
                    assert isinstance(step(stage, analysis, with_staff, scope), Step)


def test_the_holder_and_the_hotline_take_the_same_door() -> None:
    """The panel's decision and the contact's link are turns too: whether anything stands is
    the row's to say (live, held), so every stage sends them to their step; a phone call opens
    a request only in a fresh conversation."""
    approve = PanelDecision("c1", "challenge-id-0000", "jan.kowalski", PanelChoice.APPROVE, "47")
    deny = PanelDecision("c1", "challenge-id-0000", "jan.kowalski", PanelChoice.DENY)
    link = ContactDenial("c1", "T-AAAAAA", 1)
    call = PhoneCall("anna", "c1", "example.pl", "domain_transfer", "transfer it away")
    for stage in Stage:
        assert step(stage, approve) is Step.PANEL_DECIDE
        assert step(stage, deny) is Step.PANEL_DECIDE
        assert step(stage, link) is Step.CONTACT_DENY
        expected = Step.PHONE_HOLD if stage is Stage.OPEN else Step.REFUSE_STAFF
        assert step(stage, call) is expected
