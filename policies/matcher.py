"""Find which patterns occur in a list of words, fast enough to run on every message.

Everything that can be computed from the patterns alone is built once, in the constructor:
words are looked up in dictionaries (exact words, stems by their first letters, typo
candidates by a few of their first letters), so a message costs a handful of dictionary probes
per distinct word. The tables are private and never change after construction.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from policies.pattern import MIN_STEM, SWAP_MIN, WINDOW, Atom, Pattern, Typo


def _first_difference(word: str, target: str) -> int:
    limit = min(len(word), len(target))
    index = 0
    while index < limit and word[index] == target[index]:
        index += 1
    return index


def _swapped(word: str, target: str, i: int, end: int) -> bool:
    return (
        i + 1 < end <= len(word)
        and word[i] == target[i + 1]
        and word[i + 1] == target[i]
        and word[i + 2 : end] == target[i + 2 : end]
    )


def near_prefix(word: str, stem: str, typo: Typo) -> bool:
    """True if some prefix of ``word`` is within the allowed typo of ``stem``."""
    n = len(stem)
    i = _first_difference(word, stem)
    if i == n or _swapped(word, stem, i, n):
        return True
    size = len(word)
    return (
        typo is Typo.ANY
        and (
            (size >= n and word[i + 1 : n] == stem[i + 1 :])  # one letter replaced
            or (size >= n - 1 and word[i : n - 1] == stem[i + 1 :])  # one letter missing
            or (size >= n + 1 and word[i + 1 : n + 1] == stem[i:])  # one letter added
        )
    )


def near_word(word: str, target: str, typo: Typo) -> bool:
    """True if ``word`` is within the allowed typo of ``target``."""
    size, n = len(word), len(target)
    i = _first_difference(word, target)
    if size == n and (i == n or _swapped(word, target, i, n)):
        return True
    if typo is not Typo.ANY or abs(size - n) > 1:
        return False
    if size == n:
        return word[i + 1 :] == target[i + 1 :]
    if size < n:
        return word[i:] == target[i + 1 :]
    return word[i + 1 :] == target[i:]


def _typo_keys(text: str) -> tuple[str, str, str, str]:
    """Three of the first five letters, chosen four ways.

    One replaced letter or one swap of neighbours leaves at least one of these intact, so an
    atom and a mistyped word share a key; so does a letter added or missing after the third.
    Only atoms sharing a key are compared letter by letter, which keeps typos cheap.
    """
    return (text[0:3], text[2:5], text[0] + text[3:5], text[0:2] + text[4])


def _pair_within_window(first: list[int], second: list[int]) -> bool:
    for position in first:
        index = bisect_left(second, position - WINDOW + 1)
        if index < len(second) and second[index] < position + WINDOW:
            return True
    return False


def _within_window(term_positions: list[list[int]]) -> bool:
    """Is there a span of WINDOW consecutive words holding one position of every term?"""
    if len(term_positions) == 2:
        return _pair_within_window(*term_positions)
    events = sorted(
        (pos, term) for term, positions in enumerate(term_positions) for pos in positions
    )
    need = len(term_positions)
    counts = [0] * need
    covered = 0
    left = 0
    for pos, term in events:
        if counts[term] == 0:
            covered += 1
        counts[term] += 1
        while covered == need:
            start, first_term = events[left]
            if pos - start < WINDOW:
                return True
            counts[first_term] -= 1
            if counts[first_term] == 0:
                covered -= 1
            left += 1
    return False


_TypoTarget = tuple[int, int, str, bool, Typo, int]
"""An atom that tolerates typos: shortest and longest word it can match, its text, whether it
is a stem, how much typo, its id."""


_LONGEST_WORD = 1 << 30
MEMO_SIZE = 8192  # distinct words remembered: a few hundred KiB; see Matcher._atoms_of
_NOTHING: tuple[int, ...] = ()
_NOTHING_NEAR: tuple[_TypoTarget, ...] = ()


class Matcher:
    """Compiled form of many patterns; :meth:`matches` says which of them occur in a text."""

    __slots__ = ("_by_first_term", "_exact", "_memo", "_stems", "_terms", "_typos")

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        atom_ids: dict[Atom, int] = {}
        terms: list[tuple[tuple[int, ...], ...]] = []
        for pattern in patterns:
            terms.append(
                tuple(
                    tuple(atom_ids.setdefault(atom, len(atom_ids)) for atom in term)
                    for term in pattern.terms
                )
            )
        self._terms = tuple(terms)
        # A pattern can only match if its first word did, so only those patterns are checked.
        self._by_first_term: dict[int, list[int]] = {}
        for index, pattern_terms in enumerate(terms):
            for atom_id in pattern_terms[0]:
                self._by_first_term.setdefault(atom_id, []).append(index)
        exact: dict[str, list[int]] = {}
        self._stems: dict[str, list[tuple[str, int]]] = {}
        typos: tuple[dict[str, list[_TypoTarget]], ...] = ({}, {}, {}, {})
        for atom, atom_id in atom_ids.items():
            if atom.stem:
                self._stems.setdefault(atom.text[:MIN_STEM], []).append((atom.text, atom_id))
            else:
                exact.setdefault(atom.text, []).append(atom_id)
            if atom.typo is not Typo.NONE:
                slack = 1 if atom.typo is Typo.ANY else 0
                longest = _LONGEST_WORD if atom.stem else len(atom.text) + slack
                target = (len(atom.text) - slack, longest, atom.text, atom.stem, atom.typo, atom_id)
                for table, key in zip(typos, _typo_keys(atom.text), strict=True):
                    table.setdefault(key, []).append(target)
        self._exact = {text: tuple(ids) for text, ids in exact.items()}
        # Chat repeats its vocabulary: a word's atoms, once found, are looked up, not re-derived.
        self._memo: dict[str, Sequence[int]] = {}
        self._typos = tuple({key: tuple(group) for key, group in table.items()} for table in typos)

    def _atoms_of(self, word: str) -> Sequence[int]:
        """Remembered until the memo is full, then the memo starts again: chat's everyday words
        are back in it within a few messages, while words seen once (numbers, names, noise an
        attacker sends) cannot make a node hold more than MEMO_SIZE of them (bench/soak.py)."""
        found = self._memo.get(word)
        if found is None:
            found = self._derive_atoms(word)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[word] = found
        return found

    def _derive_atoms(self, word: str) -> Sequence[int]:
        exact = self._exact.get(word, _NOTHING)
        stems = self._stems.get(word[:MIN_STEM])
        if stems is not None:
            prefixed = [atom_id for stem, atom_id in stems if word.startswith(stem)]
            if prefixed:
                return (*prefixed, *exact)
        if exact or len(word) < SWAP_MIN:
            return exact
        return self._near_atoms(word)

    def _near_atoms(self, word: str) -> Sequence[int]:
        by_first3, by_middle3, by_first_last2, by_first2_fifth = self._typos
        first3, middle3, first_last2, first2_fifth = _typo_keys(word)
        candidates = (
            by_first3.get(first3, _NOTHING_NEAR)
            + by_middle3.get(middle3, _NOTHING_NEAR)
            + by_first_last2.get(first_last2, _NOTHING_NEAR)
            + by_first2_fifth.get(first2_fifth, _NOTHING_NEAR)
        )
        size = len(word)
        found: list[int] = []
        for shortest, longest, text, stem, typo, atom_id in candidates:
            if shortest <= size <= longest and atom_id not in found:
                near = near_prefix(word, text, typo) if stem else near_word(word, text, typo)
                if near:
                    found.append(atom_id)
        return tuple(found) if found else _NOTHING

    def matches(self, text_words: Sequence[str]) -> list[int]:
        """Indexes (into the constructor's list) of the patterns occurring in the words."""
        atoms_of: dict[str, Sequence[int]] = {}
        for word in set(text_words):
            atom_ids = self._atoms_of(word)
            if atom_ids:
                atoms_of[word] = atom_ids
        if not atoms_of:
            return []
        positions: dict[int, list[int]] = {}
        for position, word in enumerate(text_words):
            if word in atoms_of:
                for atom_id in atoms_of[word]:
                    positions.setdefault(atom_id, []).append(position)
        candidates = sorted(
            {index for atom_id in positions for index in self._by_first_term.get(atom_id, ())}
        )
        found: list[int] = []
        for index in candidates:
            term_positions: list[list[int]] = []
            for term in self._terms[index]:
                if len(term) == 1:
                    hits = positions.get(term[0], [])
                else:
                    hits = sorted(pos for atom_id in term for pos in positions.get(atom_id, ()))
                if not hits:
                    break
                term_positions.append(hits)
            else:
                if len(term_positions) == 1 or _within_window(term_positions):
                    found.append(index)
        return found
