"""Values shared by the loader, the recogniser and the evaluator: small, typed, immutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Channel(StrEnum):
    CHAT = "chat"
    EMAIL = "email"
    PHONE = "phone"  # the hotline: a staff member takes the call, the client approves in the panel


_RANK: Mapping[str, int] = MappingProxyType({"none": 0, "identified": 1, "authenticated": 2})


class Requirement(StrEnum):
    """Verification stage a request needs before staff may see it.

    Comparison is by strictness (NONE < IDENTIFIED < AUTHENTICATED), never alphabetical, because
    a plain ``str`` comparison would rank "authenticated" lowest and fail open.
    """

    NONE = "none"
    IDENTIFIED = "identified"
    AUTHENTICATED = "authenticated"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    @classmethod
    def strictest(cls, first: Requirement, *rest: Requirement) -> Requirement:
        result = first
        for requirement in rest:
            if requirement.rank > result.rank:
                result = requirement
        return result

    def _other_rank(self, other: str) -> int:
        # A bare string is accepted only if it names a stage; anything else must not fall back
        # to str's alphabetical ordering.
        if other not in _RANK:
            raise TypeError(f"cannot compare a requirement with {other!r}")
        return _RANK[other]

    def __lt__(self, other: str) -> bool:
        return self.rank < self._other_rank(other)

    def __le__(self, other: str) -> bool:
        return self.rank <= self._other_rank(other)

    def __gt__(self, other: str) -> bool:
        return self.rank > self._other_rank(other)

    def __ge__(self, other: str) -> bool:
        return self.rank >= self._other_rank(other)


class IntentKind(StrEnum):
    CHANGE = "change"
    QUESTION = "question"


@dataclass(frozen=True, slots=True)
class Duties:
    """Obligations beyond verification that staff tooling must honour for an intent."""

    notify_contact: bool = False
    cooling_off_seconds: int = 0
    require_sender_authentication: bool = False

    def merge(self, other: Duties) -> Duties:
        """Combine duties of several matched intents so that none of them is dropped."""
        return Duties(
            notify_contact=self.notify_contact or other.notify_contact,
            cooling_off_seconds=max(self.cooling_off_seconds, other.cooling_off_seconds),
            require_sender_authentication=(
                self.require_sender_authentication or other.require_sender_authentication
            ),
        )


def _frozen_requires(value: Mapping[Channel, Requirement]) -> Mapping[Channel, Requirement]:
    return MappingProxyType(dict(value))


def _frozen_patterns(value: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({lang: tuple(items) for lang, items in value.items()})


@dataclass(frozen=True, slots=True)
class Intent:
    """One kind of client request as declared by an operator in a policy file.

    ``patterns`` maps a language code to the raw pattern strings; they are compiled by the
    recogniser. ``catch_all`` marks the intent chosen when nothing more specific of its kind
    matched; it never makes a recognition ambiguous.
    """

    name: str
    kind: IntentKind
    description: str
    requires: Mapping[Channel, Requirement] = field(hash=False)
    duties: Duties = Duties()
    patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    catch_all: bool = False

    def __post_init__(self) -> None:
        # Mappings are copied into read-only views so a shared Intent cannot be altered later.
        object.__setattr__(self, "requires", _frozen_requires(self.requires))
        object.__setattr__(self, "patterns", _frozen_patterns(self.patterns))


@dataclass(frozen=True, slots=True)
class Language:
    """A language the recogniser can tell apart, by its common words. ``requests`` are the
    patterns of a request being made ("please", "could you"), ``actions`` those of something
    to be done ("send", "wyślijcie"): either, with a service, an address or a number in the
    same message, makes it a change unless a specific question matched; an action in a clause
    that asks no specific question makes even a question a change (see ``recognizer``)."""

    code: str
    words: frozenset[str] = frozenset()
    default: bool = False
    requests: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recognition:
    intent: str
    kind: IntentKind
    ambiguous: bool
    candidates: tuple[str, ...]
    language: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What a message needs. ``intent`` is the one it is shown as; ``intents`` every intent that
    counts for it (a request is about all of them, so a later line asking for another one is a
    request of its own): the specific intents matched, or the catch-all when none was."""

    intent: str
    requirement: Requirement
    duties: Duties
    is_change: bool
    intents: tuple[str, ...] = ()

    @property
    def scope(self) -> tuple[str, ...]:
        return self.intents or (self.intent,)


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect in a policy folder, located so an operator can jump to it."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class PolicyError(Exception):
    """Raised by loading when a policy folder has defects; lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
