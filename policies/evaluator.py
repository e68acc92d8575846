"""Decide what a recognised request needs before staff may act on it.

This is the one place where a policy becomes a security decision, so it fails closed: whatever
it does not know (an intent it has never heard of, a channel an intent does not mention, a tie
between two changes) costs the client full authentication, never less.
"""

from __future__ import annotations

from collections.abc import Mapping

from policies.model import Channel, Decision, Duties, Intent, IntentKind, Recognition, Requirement


def decide(intents: Mapping[str, Intent], recognition: Recognition, channel: Channel) -> Decision:
    """The strictest requirement and all duties of every intent the message matched."""
    requirement = Requirement.NONE
    duties = Duties()
    is_change = recognition.kind is IntentKind.CHANGE or recognition.ambiguous
    names = tuple(dict.fromkeys((recognition.intent, *recognition.candidates)))
    for name in names:
        intent = intents.get(name)
        if intent is None:
            requirement = Requirement.AUTHENTICATED
            is_change = True
            continue
        needed = intent.requires.get(channel, Requirement.AUTHENTICATED)
        if name == recognition.intent and intent.kind is not recognition.kind:
            # A recognition that disagrees with the policy was not made by this policy set.
            needed = Requirement.AUTHENTICATED
        requirement = Requirement.strictest(requirement, needed)
        duties = duties.merge(intent.duties)
        is_change = is_change or intent.kind is IntentKind.CHANGE
    if recognition.ambiguous:
        requirement = Requirement.AUTHENTICATED
    return Decision(
        intent=recognition.intent,
        requirement=requirement,
        duties=duties,
        is_change=is_change,
        intents=_counted(intents, names),
    )


def _counted(intents: Mapping[str, Intent], names: tuple[str, ...]) -> tuple[str, ...]:
    """The specific intents matched; a catch-all says nothing more once one of them did."""
    specific = tuple(
        name for name in names if (intent := intents.get(name)) is None or not intent.catch_all
    )
    return specific or names[:1]
