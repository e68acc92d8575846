"""Polish national identifiers (PESEL, NIP, REGON): checksums and finding them in free text.

A client with no service to name identifies with one of these numbers. Their checksums are public
arithmetic, so "that number looks mistyped" reveals nothing about who is a client; the numbers
themselves are personal data, kept only as keyed digests and masked before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class IdentifierKind(StrEnum):
    PESEL = "pesel"
    NIP = "nip"
    REGON = "regon"


@dataclass(frozen=True, slots=True)
class FoundIdentifier:
    """A number in client text that looks like an identifier; `valid` is its checksum verdict."""

    kind: IdentifierKind
    value: str
    valid: bool
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class DigitRun:
    """A standalone number as typed: the one notion of "a number" identifiers and redaction share.

    `span` covers a "PL" prefix but not a label; `label` is the label the client wrote (a "PL"
    prefix counts as NIP), or None for a bare number.
    """

    span: tuple[int, int]
    digits: str
    label: IdentifierKind | None


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_REGON9_WEIGHTS = (8, 9, 2, 3, 4, 5, 6, 7)
_REGON14_WEIGHTS = (2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8)
# PESEL keeps the century in the month: +80 is the 1800s, +0 the 1900s, +20 the 2000s, and so on.
_PESEL_CENTURY = {4: 1800, 0: 1900, 1: 2000, 2: 2100, 3: 2200}
_MAX_RAW_LENGTH = 64

# Separators people type inside numbers ("123 456", "123-456-32-18", "440.514.013.59", a
# locale's narrow space) and any other single one that splits a code to get it past a mask
# ("3921.8459", "482,135", "482/135", "482_135", a tab).
SEPARATORS = (
    " \t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
    "-\u2010\u2011.,/_\u00b7\u2022"
)
_SEP = f"[{re.escape(SEPARATORS)}]"
_H = "[ \t\u00a0]"
# One separator; a dash, slash or dot, or two, with spaces either side ("12345 - 6785",
# "123 -- 456"); or two or three spaces.
_GAP = rf"(?:{_H}{{0,2}}[-/.\u2010\u2011]{{1,2}}{_H}{{0,2}}|{_H}{{2,3}}|{_SEP})"
_RUN = rf"\d+(?:{_GAP}\d+)*"
# A word starts after anything but a letter; a digit counts as a boundary so that masking a number
# ("123456nip…" becoming "[number]nip…") never turns a word into a label on a second pass.
WORD_START = r"(?<![^\W\d])"
# Each piece is a fixed word or a quantifier that cannot overlap its neighbour, and digit runs are
# greedy with nothing after them, so the scan stays linear. The lookahead lets the engine skip
# most positions cheaply. A bare number under six digits is neither an identifier nor masked.
_RUN_RE = re.compile(
    rf"(?=[pnr\d])(?:"
    rf"{WORD_START}(?P<label>pesel|nip|regon){_H}*(?:[:=\-]{_H}*)?(?:(?:to|is|jest){_H}+)?"
    rf"(?:{WORD_START}(?<!\.)(?P<label_pl>pl))?(?P<label_digits>{_RUN})"
    rf"|{WORD_START}(?<!\.)(?P<pl>pl)(?P<pl_digits>{_RUN})"
    rf"|(?=(?:\d{_GAP}?){{5}}\d)(?P<digits>{_RUN}))",
    re.IGNORECASE,
)
_GROUP_RE = re.compile(r"\d+")
# One-time codes have six or eight digits: a run of that length is masked wherever it stands
# (glued to a word, inside an address), so that no spelling of a code reaches staff.
CODE_LENGTHS = (6, 8)
# Zero-width, so that overlapping candidates ("2026-13-01-2027") are all seen.
_DATE_RE = re.compile(r"(?<!\d)(?=(\d{4}([-./])\d\d\2\d\d|\d\d([-./])\d\d\3\d{4})(?!\d))")
_IPV4_RE = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)")
_DATE_PARTS = re.compile(r"[-./]")
_DROP_SEPARATORS = str.maketrans("", "", SEPARATORS)


def _is_digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits[: len(weights)], weights, strict=True))


def is_valid_pesel(digits: str) -> bool:
    if not _is_digits(digits, 11):
        return False
    if (10 - _weighted(digits, _PESEL_WEIGHTS) % 10) % 10 != int(digits[10]):
        return False
    month_code = int(digits[2:4])
    year = _PESEL_CENTURY[month_code // 20] + int(digits[:2])
    try:
        dt.date(year, month_code % 20, int(digits[4:6]))
    except ValueError:
        return False
    return True


def is_valid_nip(digits: str) -> bool:
    if not _is_digits(digits, 10):
        return False
    remainder = _weighted(digits, _NIP_WEIGHTS) % 11
    return remainder != 10 and remainder == int(digits[9])


def is_valid_regon(digits: str) -> bool:
    # REGON maps a remainder of 10 to a check digit of 0, unlike NIP.
    if _is_digits(digits, 9):
        return _weighted(digits, _REGON9_WEIGHTS) % 11 % 10 == int(digits[8])
    if _is_digits(digits, 14):
        own = _weighted(digits, _REGON14_WEIGHTS) % 11 % 10 == int(digits[13])
        return own and is_valid_regon(digits[:9])
    return False


_CHECKS: dict[IdentifierKind, Callable[[str], bool]] = {
    IdentifierKind.PESEL: is_valid_pesel,
    IdentifierKind.NIP: is_valid_nip,
    IdentifierKind.REGON: is_valid_regon,
}
_KIND_BY_LENGTH = {
    11: IdentifierKind.PESEL,
    10: IdentifierKind.NIP,
    9: IdentifierKind.REGON,
    14: IdentifierKind.REGON,
}


def _ascii_digits(value: str) -> str | None:
    """Digits typed on any keyboard count; stored digests always see the same ASCII form."""
    if value.isascii():
        return value if value.isdigit() else None
    if not value or any(unicodedata.category(c) != "Nd" for c in value):
        return None
    return "".join(str(unicodedata.decimal(c)) for c in value)


def validate(kind: IdentifierKind, raw: str) -> str | None:
    if len(raw) > _MAX_RAW_LENGTH:
        return None
    compact = "".join(raw.split()).translate(_DROP_SEPARATORS)
    if kind is IdentifierKind.NIP and compact[:2].upper() == "PL":
        compact = compact[2:]
    digits = _ascii_digits(compact)
    if digits is None or not _CHECKS[kind](digits):
        return None
    return digits


def _glued(text: str, start: int) -> bool:
    """Digits stuck to a word ("vps-1234567", "FV1234567", "FV/2026/11/123") name a thing;
    they are not a number, unless they have a code's length (see _bare_runs)."""
    prev = text[start - 1] if start > 0 else ""
    if prev in "-/" and start >= 2:
        prev = text[start - 2]
    return prev.isalpha() or prev == "_"


def _names_a_thing(digits: str, masking: bool) -> bool:
    """Glued digits are a name ("FV1234567") unless they have a code's length; and, for
    masking, unless they are a valid national number ("skan-44051401359.pdf" shows a PESEL to
    whoever reads it, though naming it that way identifies nobody)."""
    if len(digits) in CODE_LENGTHS:
        return False
    kind = _KIND_BY_LENGTH.get(len(digits))
    return not masking or kind is None or not _CHECKS[kind](digits)


def _ticket_at(text: str, start: int, end: int) -> bool:
    """The gateway's own ticket ("T-482135"): six characters after "T-", no secret."""
    before = text[max(0, start - 3) : start]
    word_start = len(before) < 3 or not (before[0].isalnum() or before[0] in "_-")
    return (
        before[-2:].lower() == "t-"
        and word_start
        and end - start == 6
        and (end == len(text) or not (text[end].isalnum() or text[end] == "_"))
    )


def _date_at(text: str, start: int, end: int) -> bool:
    """A date begins here: "x_23-11-2026" is a word and a date, not "x_23" and "11-2026"."""
    found = _DATE_RE.match(text, start, end)
    return found is not None and _is_date(found[1])


def _is_date(candidate: str) -> bool:
    """A date ("2026-11-23", "23.11.2026", "2026/11/23") stays readable: it is no secret."""
    first, month, last = _DATE_PARTS.split(candidate)
    year, day = (first, last) if len(first) == 4 else (last, first)
    try:
        return 1900 <= int(year) <= 2099 and bool(dt.date(int(year), int(month), int(day)))
    except ValueError:
        return False


def _segment(text: str, start: int, end: int) -> DigitRun:
    digits = _ascii_digits(text[start:end].translate(_DROP_SEPARATORS))
    return DigitRun((start, end), digits or "", None)


def _bare_runs(text: str, start: int, end: int, masking: bool) -> Iterator[DigitRun]:
    """Splits off what is not a secret: the word-bound first group, a numbered name
    ("FV/2024/05/1234"), dates, an IPv4 address (staff must read where a record is to point)."""
    if _IPV4_RE.fullmatch(text, start, end):
        return  # where a record points: staff and the client must read it
    glued = _glued(text, start) and not _date_at(text, start, end)
    if (
        glued
        and "/" in text[start:end]
        and not any(char.isspace() for char in text[start:end])  # "A0 000/000" is no number
        and all(_names_a_thing(group[0], masking) for group in _GROUP_RE.finditer(text, start, end))
    ):
        return  # an invoice number ("FV/2024/05/1234"), however many groups it has
    if glued:
        first = _GROUP_RE.match(text, start, end)
        if first is None:
            start = end
        elif _names_a_thing(first[0], masking) or _ticket_at(text, start, first.end()):
            start = first.end() + 1
    done = start
    for candidate in _DATE_RE.finditer(text, start, end):
        at = candidate.start()
        if at < done or not _is_date(candidate[1]):
            continue
        if at > done:
            yield _segment(text, done, at - 1)
        done = at + len(candidate[1]) + 1
    if done < end:
        yield _segment(text, done, end)


def iter_digit_runs(text: str, *, masking: bool = False) -> Iterator[DigitRun]:
    """Labelled numbers of any length, bare ones of six digits or more; linear in the text.
    `masking`: also the valid national numbers glued to a word, which are no identification
    but must not be shown."""
    for match in _RUN_RE.finditer(text):
        if match["digits"] is not None:
            yield from _bare_runs(text, *match.span("digits"), masking)
            continue
        labelled = match["label"] is not None
        kind = IdentifierKind(match["label"].lower()) if labelled else IdentifierKind.NIP
        prefix, digits = ("label_pl", "label_digits") if labelled else ("pl", "pl_digits")
        start = match.start(prefix) if match[prefix] is not None else match.start(digits)
        compact = match[digits].translate(_DROP_SEPARATORS)
        yield DigitRun((start, match.end(digits)), _ascii_digits(compact) or "", kind)


def identify_run(run: DigitRun) -> FoundIdentifier | None:
    """A label the client wrote wins; otherwise the length alone decides what to check."""
    kind = run.label or _KIND_BY_LENGTH.get(len(run.digits))
    if kind is None:
        return None
    return FoundIdentifier(kind, run.digits, _CHECKS[kind](run.digits), run.span)


def find_identifiers(text: str) -> list[FoundIdentifier]:
    found = (identify_run(run) for run in iter_digit_runs(text))
    return [f for f in found if f is not None]


def identifier_digest(key: bytes, kind: IdentifierKind, digits: str) -> str:
    """Accounts are found by identifier without the identifier ever being stored in clear."""
    return hmac.new(key, f"{kind}:{digits}".encode(), hashlib.sha256).hexdigest()
