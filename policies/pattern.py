"""The small pattern language operators write in policy files.

A pattern is a few words that must all occur close together, in any order (Polish word order
is free): ``"przenie* domen*"``. Each word may be

- ``domena``      the whole word (after folding case and diacritics),
- ``domen*``      any word starting with it, so that every inflection matches,
- ``mail|email``  one of several alternatives,
- ``@domain`` / ``@email``  any host name / e-mail address in the text.

Words of 7 or more letters also match with one typo (a letter added, missing, replaced or two
neighbours swapped); words of 5 or 6 letters only with two neighbours swapped ("chnage"), the
commonest slip, because any other edit of a short word tends to land on another real word
("change" / "charge"). Words under 5 letters must be exact. A letter missing or added among
the first three is not recognised as a typo (see ``matcher._typo_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from policies.normalize import MARKERS, words

WINDOW = 8
"""All words of a pattern must fall within this many consecutive words of the text."""

MIN_STEM = 3
ANY_TYPO_MIN = 7
SWAP_MIN = 5


class Typo(IntEnum):
    """How far a word in the text may differ from a pattern word and still match."""

    NONE = 0
    SWAP = 1
    ANY = 2


class PatternError(ValueError):
    """A pattern string an operator wrote cannot be compiled; the message says why."""


@dataclass(frozen=True, slots=True, order=True)
class Atom:
    """One alternative of one pattern word."""

    text: str
    stem: bool

    @property
    def typo(self) -> Typo:
        if self.text.startswith("@") or len(self.text) < SWAP_MIN:
            return Typo.NONE
        return Typo.ANY if len(self.text) >= ANY_TYPO_MIN else Typo.SWAP


Signature = frozenset[frozenset[Atom]]


@dataclass(frozen=True, slots=True)
class Pattern:
    source: str
    language: str
    terms: tuple[tuple[Atom, ...], ...]

    @property
    def specificity(self) -> int:
        """More words matched together is stronger evidence than a single keyword."""
        return len(self.terms)

    @property
    def signature(self) -> Signature:
        """Order-free identity, used to catch the same pattern claimed by two intents."""
        return frozenset(frozenset(term) for term in self.terms)


def _atom(alternative: str, source: str) -> Atom:
    if alternative in MARKERS:
        return Atom(alternative, stem=False)
    if alternative.startswith("@"):
        known = ", ".join(sorted(MARKERS))
        raise PatternError(f"unknown marker {alternative!r} in {source!r} (known: {known})")
    stem = alternative.endswith("*")
    core = alternative[:-1] if stem else alternative
    if "*" in core or not core:
        raise PatternError(f"'*' may only end a word that has letters, in {source!r}")
    folded = words(core)
    if len(folded) != 1 or folded[0].startswith("@"):
        raise PatternError(
            f"{alternative!r} in {source!r} is not a single word; "
            "separate words with spaces and alternatives with '|'"
        )
    text = folded[0]
    if stem and len(text) < MIN_STEM:
        raise PatternError(
            f"stem {alternative!r} in {source!r} is shorter than {MIN_STEM} letters "
            "and would match almost anything"
        )
    return Atom(text, stem=stem)


def parse(source: str, language: str) -> Pattern:
    """Compile one pattern string, raising :class:`PatternError` on anything doubtful."""
    if not isinstance(source, str):
        raise PatternError(f"a pattern must be a string, not {type(source).__name__}")
    terms: list[tuple[Atom, ...]] = []
    for word in source.split():
        alternatives = word.split("|")
        if any(not alternative for alternative in alternatives):
            raise PatternError(f"empty alternative around '|' in {source!r}")
        terms.append(tuple(sorted({_atom(alternative, source) for alternative in alternatives})))
    if not terms:
        raise PatternError("empty pattern")
    if len(terms) > WINDOW:
        raise PatternError(f"{source!r} has more than {WINDOW} words and could never match")
    if len(set(terms)) != len(terms):
        raise PatternError(f"{source!r} repeats a word")
    return Pattern(source=source, language=language, terms=tuple(terms))
