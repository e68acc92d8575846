"""The evaluator fails closed: whatever it does not know costs full authentication."""

from __future__ import annotations

import pytest

from policies import (
    Channel,
    Duties,
    Intent,
    IntentKind,
    Language,
    PolicySet,
    Recognition,
    Requirement,
)

AUTH = Requirement.AUTHENTICATED
IDENT = Requirement.IDENTIFIED
NONE = Requirement.NONE


def intent(
    name: str,
    kind: IntentKind = IntentKind.CHANGE,
    requires: dict[Channel, Requirement] | None = None,
    duties: Duties | None = None,
    patterns: tuple[str, ...] = (),
    catch_all: bool = False,
) -> Intent:
    return Intent(
        name=name,
        kind=kind,
        description=name,
        requires={Channel.CHAT: AUTH, Channel.EMAIL: AUTH} if requires is None else requires,
        duties=duties or Duties(),
        patterns={"en": patterns} if patterns else {},
        catch_all=catch_all,
    )


def recognition(
    name: str,
    kind: IntentKind = IntentKind.CHANGE,
    candidates: tuple[str, ...] | None = None,
    ambiguous: bool = False,
) -> Recognition:
    return Recognition(
        intent=name,
        kind=kind,
        ambiguous=ambiguous,
        candidates=(name,) if candidates is None else candidates,
        language="en",
    )


@pytest.fixture
def policy() -> PolicySet:
    both_identified = {Channel.CHAT: IDENT, Channel.EMAIL: IDENT}
    return PolicySet(
        [
            intent("relaxed_change", requires=both_identified, patterns=("relax*",)),
            intent("other_relaxed", requires=both_identified, patterns=("calm*",)),
            intent(
                "strict_change",
                duties=Duties(notify_contact=True, cooling_off_seconds=60),
                patterns=("strict*", "very strict*"),
            ),
            intent("chat_only", requires={Channel.CHAT: NONE}, patterns=("chatty",)),
            intent("other_change", catch_all=True, patterns=("change*",)),
            intent(
                "status",
                IntentKind.QUESTION,
                requires=both_identified,
                duties=Duties(require_sender_authentication=True),
                patterns=("status",),
            ),
            intent(
                "general_question",
                IntentKind.QUESTION,
                requires={Channel.CHAT: NONE, Channel.EMAIL: NONE},
                catch_all=True,
            ),
        ],
        [Language("en", default=True)],
    )


@pytest.mark.parametrize("channel", list(Channel))
def test_unknown_intent_needs_authentication(policy: PolicySet, channel: Channel) -> None:
    for kind in IntentKind:
        decision = policy.decide(recognition("no_such_intent", kind), channel)
        assert decision.requirement is AUTH
        assert decision.is_change
        assert decision.intent == "no_such_intent"


def test_unknown_candidate_needs_authentication(policy: PolicySet) -> None:
    seen = recognition("status", IntentKind.QUESTION, candidates=("status", "gone"))
    assert policy.decide(seen, Channel.CHAT).requirement is AUTH


def test_channel_missing_from_requires_needs_authentication(policy: PolicySet) -> None:
    seen = recognition("chat_only")
    assert policy.decide(seen, Channel.CHAT).requirement is NONE
    assert policy.decide(seen, Channel.EMAIL).requirement is AUTH


def test_ambiguous_change_needs_authentication_even_if_each_needs_less(
    policy: PolicySet,
) -> None:
    seen = recognition(
        "relaxed_change", candidates=("relaxed_change", "other_relaxed"), ambiguous=True
    )
    decision = policy.decide(seen, Channel.EMAIL)
    assert decision.requirement is AUTH
    assert decision.is_change


def test_never_less_than_the_strictest_candidate(policy: PolicySet) -> None:
    seen = recognition("relaxed_change", candidates=("relaxed_change", "strict_change"))
    decision = policy.decide(seen, Channel.CHAT)
    assert decision.requirement is AUTH
    assert decision.intent == "relaxed_change"


def test_duties_of_all_candidates_apply(policy: PolicySet) -> None:
    seen = recognition("relaxed_change", candidates=("relaxed_change", "strict_change", "status"))
    assert policy.decide(seen, Channel.EMAIL).duties == Duties(
        notify_contact=True, cooling_off_seconds=60, require_sender_authentication=True
    )


def test_question_needs_what_its_policy_says(policy: PolicySet) -> None:
    decision = policy.decide(recognition("status", IntentKind.QUESTION), Channel.CHAT)
    assert (decision.requirement, decision.is_change) == (IDENT, False)
    nothing = recognition("general_question", IntentKind.QUESTION, candidates=())
    decision = policy.decide(nothing, Channel.EMAIL)
    assert (decision.requirement, decision.is_change) == (NONE, False)


def test_recognition_disagreeing_with_the_policy_needs_authentication(policy: PolicySet) -> None:
    forged = recognition("status", IntentKind.CHANGE)
    decision = policy.decide(forged, Channel.CHAT)
    assert decision.requirement is AUTH
    assert decision.is_change


def test_recognise_then_decide(policy: PolicySet) -> None:
    assert policy.recognize("what is the status").intent == "status"
    seen = policy.recognize("very strict and relaxed, and please change it")
    assert seen.intent == "strict_change"
    assert seen.candidates == ("strict_change", "relaxed_change", "other_change")
    assert not seen.ambiguous
    assert policy.decide(seen, Channel.CHAT).requirement is AUTH
    tie = policy.recognize("relax, calm down")
    assert tie.ambiguous
    assert tie.candidates == ("relaxed_change", "other_relaxed")
    assert policy.decide(tie, Channel.CHAT).requirement is AUTH
    catch_all_only = policy.recognize("change something and tell me the status")
    assert catch_all_only.intent == "other_change"
    assert not catch_all_only.ambiguous
    assert policy.decide(catch_all_only, Channel.EMAIL).requirement is AUTH


@pytest.mark.parametrize(
    "text",
    [
        "please update my records",
        "zmieńcie mi coś w koncie",
        "cancel my hosting",
        "wyłączcie mi usługę",
        "Could you modify the thing we talked about yesterday?",
        "proszę anulować to co zamówiłem",
    ],
)
def test_change_without_specific_intent_is_held(bundled: PolicySet, text: str) -> None:
    seen = bundled.recognize(text)
    assert seen.kind is IntentKind.CHANGE
    for channel in Channel:
        decision = bundled.decide(seen, channel)
        assert decision.requirement is AUTH
        assert decision.is_change


@pytest.mark.parametrize(
    ("text", "requirement"),
    [
        ("what are your opening hours", NONE),
        ("jakie są godziny otwarcia biura?", NONE),
        ("czy domena example.pl jest opłacona?", IDENT),
        ("when does my domain expire?", IDENT),
    ],
)
def test_questions_need_less(bundled: PolicySet, text: str, requirement: Requirement) -> None:
    for channel in Channel:
        decision = bundled.decide(bundled.recognize(text), channel)
        assert decision.requirement is requirement
        assert not decision.is_change


def test_bundled_duties(bundled: PolicySet) -> None:
    transfer = bundled.intent("domain_transfer")
    owner = bundled.intent("owner_change")
    assert transfer is not None and transfer.duties.notify_contact
    assert owner is not None and owner.duties.notify_contact
    assert owner.duties.cooling_off_seconds > 0
    assert bundled.intent("nope") is None


def test_requirement_order_is_by_strictness_not_alphabet() -> None:
    assert NONE < IDENT < AUTH
    assert AUTH > "none" and NONE <= "none" and IDENT >= "identified"
    assert sorted([AUTH, NONE, IDENT]) == [NONE, IDENT, AUTH]
    assert max(NONE, AUTH, IDENT) is AUTH
    assert Requirement.strictest(NONE, IDENT) is IDENT
    assert Requirement.strictest(AUTH, NONE, IDENT) is AUTH
    with pytest.raises(TypeError):
        assert NONE < "nothing"
