"""The loaded policy as one immutable object: recognise a message, then decide what it needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from policies.evaluator import decide
from policies.loader import read_folder
from policies.model import (
    Channel,
    Decision,
    Intent,
    IntentKind,
    Language,
    PolicyError,
    Problem,
    Recognition,
)
from policies.recognizer import Recognizer


def bundled_path() -> Path:
    """Folder of the policies shipped with the gateway, used when none is configured."""
    return Path(__file__).resolve().parent / "default"


def check(path: Path) -> list[Problem]:
    """Every problem in a policy folder, in file and line order; empty when it can be used."""
    return list(read_folder(Path(path)).problems)


class PolicySet:
    """A consistent set of intents and languages; safe to share, nothing changes after init."""

    __slots__ = ("_by_name", "_intents", "_languages", "_recognizer")

    def __init__(self, intents: Sequence[Intent], languages: Sequence[Language]) -> None:
        names = [intent.name for intent in intents]
        if len(set(names)) != len(names):
            raise ValueError("intent names must be unique")
        self._intents = tuple(intents)
        self._languages = tuple(languages)
        self._by_name: Mapping[str, Intent] = MappingProxyType(
            {intent.name: intent for intent in self._intents}
        )
        self._recognizer = Recognizer(self._intents, self._languages)

    @classmethod
    def load(cls, path: Path | None = None) -> PolicySet:
        """Read a policy folder (default: the bundled one); raise with every problem found."""
        loaded = read_folder(bundled_path() if path is None else Path(path))
        if loaded.problems:
            raise PolicyError(list(loaded.problems))
        return cls(loaded.intents, loaded.languages)

    def recognize(self, text: str) -> Recognition:
        return self._recognizer.recognize(text)

    def decide(self, recognition: Recognition, channel: Channel) -> Decision:
        return decide(self._by_name, recognition, channel)

    def decide_as(self, name: str, channel: Channel) -> Decision:
        """What a request of exactly this intent needs, as if only it had been recognised
        (staff naming the change they ask the client to verify); an unknown name fails closed."""
        known = self._by_name.get(name)
        kind = known.kind if known is not None else IntentKind.CHANGE
        return self.decide(Recognition(name, kind, False, (name,), ""), channel)

    def intent(self, name: str) -> Intent | None:
        return self._by_name.get(name)

    @property
    def change_intents(self) -> tuple[str, ...]:
        """Names of the change intents, the catch-all (the fail-closed choice) first."""
        changes = [i for i in self._intents if i.kind is IntentKind.CHANGE]
        return tuple(i.name for i in sorted(changes, key=lambda intent: not intent.catch_all))

    @property
    def intents(self) -> Sequence[Intent]:
        return self._intents

    @property
    def languages(self) -> Sequence[Language]:
        return self._languages
