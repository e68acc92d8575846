"""What a policy file declares, with the places it was written, for checks across files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from policies.model import Intent, Language, Problem


@dataclass(frozen=True, slots=True)
class DeclaredIntent:
    """An intent plus where it was written, for problems found across files."""

    intent: Intent
    file: str
    line: int
    pattern_lines: Mapping[tuple[str, str], int]
    language_lines: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class DeclaredLanguage:
    language: Language
    file: str
    line: int


@dataclass(slots=True)
class FileContents:
    """Filled in while one file is read; ``names`` also lists intents that had other defects."""

    file: str
    intents: list[DeclaredIntent] = field(default_factory=list)
    languages: list[DeclaredLanguage] = field(default_factory=list)
    names: list[tuple[str, int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
