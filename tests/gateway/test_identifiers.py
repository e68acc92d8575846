"""PESEL, NIP and REGON: checksums worked out independently here, dates, search in free text."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.identifiers import (
    FoundIdentifier,
    IdentifierKind,
    find_identifiers,
    identifier_digest,
    is_valid_nip,
    is_valid_pesel,
    is_valid_regon,
    validate,
)

PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
REGON9_WEIGHTS = (8, 9, 2, 3, 4, 5, 6, 7)
REGON14_WEIGHTS = (2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8)
MONTH_OFFSET = {1800: 80, 1900: 0, 2000: 20, 2100: 40, 2200: 60}


def weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False))


def pesel_for(birth: dt.date, serial: int) -> str:
    month = birth.month + MONTH_OFFSET[birth.year // 100 * 100]
    head = f"{birth.year % 100:02d}{month:02d}{birth.day:02d}{serial:04d}"
    return head + str((10 - weighted(head, PESEL_WEIGHTS) % 10) % 10)


def regon9_for(head: str) -> str:
    return head + str(weighted(head, REGON9_WEIGHTS) % 11 % 10)


def regon14_for(regon9: str, tail: str) -> str:
    head = regon9 + tail
    return head + str(weighted(head, REGON14_WEIGHTS) % 11 % 10)


pesels = st.builds(
    pesel_for,
    st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2299, 12, 31)),
    st.integers(0, 9999),
)
nips = (
    st.text(alphabet="0123456789", min_size=9, max_size=9)
    .filter(lambda head: weighted(head, NIP_WEIGHTS) % 11 != 10)
    .map(lambda head: head + str(weighted(head, NIP_WEIGHTS) % 11))
)
regon9s = st.text(alphabet="0123456789", min_size=8, max_size=8).map(regon9_for)
regon14s = st.builds(regon14_for, regon9s, st.text(alphabet="0123456789", min_size=4, max_size=4))


def corrupt(value: str, position: int, shift: int) -> str:
    """Replaces one digit by a different one (shift 1..9)."""
    position %= len(value)
    new = (int(value[position]) + shift) % 10
    return value[:position] + str(new) + value[position + 1 :]


# --- known values, checked by hand above the test --------------------------------------------


def test_known_real_world_examples() -> None:
    # 4+12+0+45+1+12+0+9+3+15 = 101, check (10 - 1) % 10 = 9; born 1944-05-14
    assert is_valid_pesel("44051401359")
    # 6+10+21+8+15+24+15+12+7 = 118, 118 % 11 = 8
    assert is_valid_nip("1234563218")
    # 8+18+6+12+20+30+42+56 = 192, 192 % 11 = 5
    assert is_valid_regon("123456785")
    # 2+8+24+20+0+54+49+24+30+1+4+12+32 = 260, 260 % 11 = 7; and 123456785 is valid
    assert is_valid_regon("12345678512347")


@pytest.mark.parametrize(
    ("pesel", "why"),
    [
        ("44051401358", "wrong check digit"),
        ("4405140135", "too short"),
        ("440514013590", "too long"),
        ("4405140135a", "not digits"),
        ("４４０５１４０１３５９", "non-ASCII digits"),
        ("", "empty"),
    ],
)
def test_pesel_rejects_malformed(pesel: str, why: str) -> None:
    assert not is_valid_pesel(pesel), why


def with_check(head: str) -> str:
    return head + str((10 - weighted(head, PESEL_WEIGHTS) % 10) % 10)


@pytest.mark.parametrize(
    ("head", "valid"),
    [
        ("4413140135", False),  # month 13 without an offset
        ("4400140135", False),  # month 0
        ("4402300135", False),  # 30 February
        ("0002290135", False),  # 29 February 1900: not a leap year
        ("0022290135", True),  # 29 February 2000 (+20)
        ("9992310135", True),  # 31 December 1899 (+80)
        ("0041010135", True),  # 1 January 2100 (+40)
        ("9972310135", True),  # 31 December 2299 (+60)
        ("9973010135", False),  # month code 73: month 13 of the 2200s
        ("4405320135", False),  # 32 May
    ],
)
def test_pesel_needs_a_real_birth_date(head: str, valid: bool) -> None:
    assert is_valid_pesel(with_check(head)) is valid


def test_nip_with_remainder_ten_is_never_valid() -> None:
    head = next(f"{n:09d}" for n in range(10**9) if weighted(f"{n:09d}", NIP_WEIGHTS) % 11 == 10)
    assert not any(is_valid_nip(head + d) for d in "0123456789")


@pytest.mark.parametrize("regon", ["12345678", "1234567850", "1234567851234", "12345678a"])
def test_regon_rejects_other_lengths(regon: str) -> None:
    assert not is_valid_regon(regon)


def test_regon14_needs_a_valid_regon9_prefix() -> None:
    bad_prefix = "123456784"  # REGON-9 check digit wrong
    assert not is_valid_regon(regon14_for(bad_prefix, "1234"))


# --- generated identifiers --------------------------------------------------------------------


@given(pesels)
def test_generated_pesels_are_valid(pesel: str) -> None:
    assert is_valid_pesel(pesel)


@given(nips)
def test_generated_nips_are_valid(nip: str) -> None:
    assert is_valid_nip(nip)


@given(regon9s)
def test_generated_regon9s_are_valid(regon: str) -> None:
    assert is_valid_regon(regon)


@given(regon14s)
def test_generated_regon14s_are_valid(regon: str) -> None:
    assert is_valid_regon(regon)


@given(pesels, st.integers(0, 10), st.integers(1, 9))
def test_pesel_catches_every_single_digit_substitution(pesel: str, pos: int, shift: int) -> None:
    # Weights 1, 3, 7 and 9 are all coprime with 10, so the sum mod 10 always changes.
    assert not is_valid_pesel(corrupt(pesel, pos, shift))


@given(nips, st.integers(0, 9), st.integers(1, 9))
def test_nip_catches_every_single_digit_substitution(nip: str, pos: int, shift: int) -> None:
    # 11 is prime and the weights are 2..7: a change of 1..9 always moves the remainder, and a
    # remainder of 10 is rejected rather than mapped onto a digit.
    assert not is_valid_nip(corrupt(nip, pos, shift))


def undetectable(remainder_before: int, remainder_after: int) -> bool:
    """REGON maps remainder 10 to check digit 0, so 0 <-> 10 is the one move it cannot see."""
    return {remainder_before, remainder_after} == {0, 10}


@given(regon9s, st.integers(0, 8), st.integers(1, 9))
def test_regon9_catches_exactly_the_detectable_substitutions(
    regon: str, pos: int, shift: int
) -> None:
    bad = corrupt(regon, pos, shift)
    before, after = (weighted(r[:8], REGON9_WEIGHTS) % 11 for r in (regon, bad))
    # Every weight is 2..9, so changing one of the first 8 digits always changes the remainder;
    # changing the check digit itself is always caught. Only a 0 <-> 10 move slips through.
    if pos < 8:
        assert before != after
    assert is_valid_regon(bad) is (pos < 8 and undetectable(before, after))


@given(regon14s, st.integers(0, 13), st.integers(1, 9))
def test_regon14_catches_exactly_the_detectable_substitutions(
    regon: str, pos: int, shift: int
) -> None:
    bad = corrupt(regon, pos, shift)
    r9 = [weighted(r[:8], REGON9_WEIGHTS) % 11 for r in (regon, bad)]
    r14 = [weighted(r[:13], REGON14_WEIGHTS) % 11 for r in (regon, bad)]
    if pos in (8, 13):  # a check digit: always caught
        expected = False
    elif pos < 8:  # seen by both sums; the 14-digit weight of position 4 is 0
        expected = undetectable(*r9) and (pos == 4 or undetectable(*r14))
    else:  # positions 9..12 are seen by the 14-digit sum only, with non-zero weights
        expected = undetectable(*r14)
    assert is_valid_regon(bad) is expected


def test_undetectable_regon_substitutions_exist() -> None:
    """The property above is not vacuous: REGON really has blind spots, PESEL and NIP do not."""
    blind = [
        (regon, pos, shift)
        for regon in (regon9_for(f"{n:08d}") for n in range(0, 2000, 7))
        for pos in range(8)
        for shift in range(1, 10)
        if is_valid_regon(corrupt(regon, pos, shift))
    ]
    assert blind


# --- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (IdentifierKind.PESEL, "44051401359", "44051401359"),
        (IdentifierKind.PESEL, " 440 514 013 59 ", "44051401359"),
        (IdentifierKind.NIP, "123-456-32-18", "1234563218"),
        (IdentifierKind.NIP, "PL1234563218", "1234563218"),
        (IdentifierKind.NIP, "pl 123 456 32 18", "1234563218"),
        (IdentifierKind.REGON, "123-456-785", "123456785"),
        (IdentifierKind.REGON, "12345678512347", "12345678512347"),
        (IdentifierKind.PESEL, "PL44051401359", None),  # "PL" belongs to NIP only
        (IdentifierKind.NIP, "1234563219", None),
        (IdentifierKind.NIP, "44051401359", None),
        (IdentifierKind.REGON, "", None),
        (IdentifierKind.PESEL, "4405140135x", None),
        (IdentifierKind.PESEL, "4" * 10_000, None),
    ],
)
def test_validate_normalises_then_checks(kind: IdentifierKind, raw: str, expected: str) -> None:
    assert validate(kind, raw) == expected


@given(st.sampled_from(list(IdentifierKind)), st.text())
def test_validate_never_raises(kind: IdentifierKind, raw: str) -> None:
    result = validate(kind, raw)
    assert result is None or (result.isascii() and result.isdigit())


# --- find_identifiers -------------------------------------------------------------------------


def found(text: str) -> list[tuple[IdentifierKind, str, bool, str]]:
    return [(f.kind, f.value, f.valid, text[f.span[0] : f.span[1]]) for f in find_identifiers(text)]


P, N, R = IdentifierKind.PESEL, IdentifierKind.NIP, IdentifierKind.REGON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PESEL 44051401359", [(P, "44051401359", True, "44051401359")]),
        ("mój pesel: 44051401359.", [(P, "44051401359", True, "44051401359")]),
        ("NIP: 123-456-32-18", [(N, "1234563218", True, "123-456-32-18")]),
        ("nip PL1234563218", [(N, "1234563218", True, "PL1234563218")]),
        ("VAT PL 1234563218", [(N, "1234563218", True, "1234563218")]),  # by its length
        ("nip:PL123-456-32-18", [(N, "1234563218", True, "PL123-456-32-18")]),
        ("REGON 123456785", [(R, "123456785", True, "123456785")]),
        ("Regon=12345678512347", [(R, "12345678512347", True, "12345678512347")]),
        ("PESEL44051401359", [(P, "44051401359", True, "44051401359")]),
        ("44051401359", [(P, "44051401359", True, "44051401359")]),
        ("firma 1234563218", [(N, "1234563218", True, "1234563218")]),
        ("123 456 785", [(R, "123456785", True, "123 456 785")]),
        ("pesel 44051401358", [(P, "44051401358", False, "44051401358")]),
        ("NIP 44051401359", [(N, "44051401359", False, "44051401359")]),  # the label wins
        ("pesel 123", [(P, "123", False, "123")]),  # labelled: reported, though mistyped
        ("tel. 600 123 456", [(R, "600123456", False, "600 123 456")]),
        ("４４０５１４０１３５９", [(P, "44051401359", True, "４４０５１４０１３５９")]),
    ],
)
def test_find_identifiers_examples(
    text: str, expected: list[tuple[IdentifierKind, str, bool, str]]
) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "mam 2 domeny, faktura FV/2026/11/123, vps-1234",
        "kod 123456",  # 6 digits: a code, not an identifier
        "panel code 1234-5678",
        "usługa vps-44051401359",  # part of a service id
        "zamówienie ZAM1234563218",
        "termin 2026-11-23 i 23-11-2026",
        "snip 1234",
        "",
    ],
)
def test_find_identifiers_ignores_what_is_not_one(text: str) -> None:
    assert find_identifiers(text) == []


def test_find_identifiers_reports_several_in_order() -> None:
    text = "PESEL 44051401359, NIP 1234563218 i REGON 123456785"
    assert [(f.kind, f.value) for f in find_identifiers(text)] == [
        (P, "44051401359"),
        (N, "1234563218"),
        (R, "123456785"),
    ]


identifiers = st.one_of(
    pesels.map(lambda v: (P, v)),
    nips.map(lambda v: (N, v)),
    regon9s.map(lambda v: (R, v)),
    regon14s.map(lambda v: (R, v)),
)
prose = st.text(alphabet=st.characters(exclude_categories=["Nd"]), max_size=40)


@given(identifiers, st.booleans(), prose, prose)
def test_generated_identifiers_are_found_in_prose(
    identifier: tuple[IdentifierKind, str], labelled: bool, before: str, after: str
) -> None:
    kind, value = identifier
    number = f"{kind.upper()}: {value}" if labelled else value
    text = f"{before} . {number} . {after}"
    start = text.index(value)
    assert FoundIdentifier(kind, value, True, (start, start + len(value))) in find_identifiers(text)


@given(st.text())
def test_find_identifiers_never_raises_and_spans_hold_the_digits(text: str) -> None:
    for f in find_identifiers(text):
        assert f.value.isascii() and f.value.isdigit()
        assert len(f.value) <= f.span[1] - f.span[0]


@pytest.mark.parametrize(
    "text",
    [
        "1" * 1_000_000,
        "1 " * 500_000,
        "1-" * 500_000,
        "1.1." * 250_000,
        ("pesel" + " " * 1000) * 1000,
        "nip-" * 250_000,
        "PL " * 333_333,
        "2026-11-23-" * 90_000,
        "a1" * 500_000,
    ],
    ids=["digits", "spaced", "dashed", "dotted", "label-blanks", "labels", "pl", "dates", "mixed"],
)
def test_find_identifiers_is_fast_on_a_megabyte_of_junk(text: str) -> None:
    started = time.perf_counter()
    find_identifiers(text)
    assert time.perf_counter() - started < 5


# --- digests ----------------------------------------------------------------------------------


def test_identifier_digest_is_keyed_per_kind_and_stable() -> None:
    key, other = b"k" * 32, b"o" * 32
    digest = identifier_digest(key, P, "44051401359")
    assert digest == identifier_digest(key, P, "44051401359")
    assert digest == hmac.new(key, b"pesel:44051401359", hashlib.sha256).hexdigest()
    assert digest != identifier_digest(other, P, "44051401359")
    assert identifier_digest(key, N, "1234563218") != identifier_digest(key, R, "1234563218")
    assert "44051401359" not in digest and len(digest) == 64


@given(st.binary(min_size=1), st.binary(min_size=1), identifiers)
def test_identifier_digest_differs_per_key(
    key: bytes, other: bytes, identifier: tuple[IdentifierKind, str]
) -> None:
    assume(key != other)
    kind, value = identifier
    # HMAC pads keys shorter than a block with zeros, so b"k" and b"k\0" are the same key.
    assume(key.rstrip(b"\0") != other.rstrip(b"\0"))
    assert identifier_digest(key, kind, value) != identifier_digest(other, kind, value)
