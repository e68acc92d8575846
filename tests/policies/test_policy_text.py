"""Folding, word splitting, patterns and the typo rule."""

from __future__ import annotations

import pytest

from policies.matcher import Matcher, near_prefix, near_word
from policies.normalize import fold, strip_diacritics, words
from policies.pattern import PatternError, Typo, parse


def test_fold_strips_case_accents_and_strokes() -> None:
    assert fold("ZAŻÓŁĆ Gęślą Jaźń ĄĆĘŁŃÓŚŹŻ") == "zazolc gesla jazn acelnoszz"
    assert fold("Straße ﬁle İstanbul Øre") == "strasse file istanbul ore"
    assert strip_diacritics("Łódź ZAŻÓŁĆ") == "Lodz ZAZOLC"


def test_words_join_hyphens_and_mark_addresses() -> None:
    assert words("E-mail, auth-info; don’t") == ["email", "authinfo", "dont"]
    assert words("na jan.kowalski@Firma.PL!") == ["na", "@email", "jan", "kowalski", "firma", "pl"]
    assert words("domena Sklep-Rowerowy.pl.") == ["domena", "@domain", "skleprowerowy", "pl"]
    assert words("Dzień dobry.Proszę") == ["dzien", "@domain", "dobry", "prosze"]
    assert words("wersja 8.2, IP 1.2.3.4") == ["wersja", "8", "2", "ip", "@ip"]


def test_markers_cannot_be_typed() -> None:
    assert words("@domain @email") == ["domain", "email"]


def test_patterns_fold_like_text() -> None:
    pattern = parse("Zmień*|E-MAIL @email", "pl")
    assert [[(atom.text, atom.stem) for atom in term] for term in pattern.terms] == [
        [("email", False), ("zmien", True)],
        [("@email", False)],
    ]
    assert pattern.specificity == 2


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("", "empty pattern"),
        ("a*", "shorter than 3"),
        ("do*main", "may only end"),
        ("*", "may only end"),
        ("a||b", "empty alternative"),
        ("@host", "unknown marker"),
        ("auth.info", "not a single word"),
        ("one two three four five six seven eight nine", "more than 8 words"),
        ("dns dns", "repeats a word"),
    ],
)
def test_bad_patterns(source: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        parse(source, "en")


def test_typo_rule() -> None:
    assert near_word("tranfser", "transfer", Typo.ANY)  # swap
    assert near_word("trasfer", "transfer", Typo.ANY)  # missing
    assert near_word("transffer", "transfer", Typo.ANY)  # added
    assert near_word("tramsfer", "transfer", Typo.ANY)  # replaced
    assert not near_word("tramsfr", "transfer", Typo.ANY)
    assert near_word("chnage", "change", Typo.SWAP)
    assert not near_word("charge", "change", Typo.SWAP)
    assert near_prefix("przeniesinie", "przenies", Typo.ANY)
    assert near_prefix("duplikta", "duplikat", Typo.ANY)
    assert near_prefix("przenisienie", "przenies", Typo.ANY)
    assert not near_prefix("przyniosla", "przenies", Typo.ANY)


def test_typo_tolerance_depends_on_length() -> None:
    assert parse("transfer", "en").terms[0][0].typo is Typo.ANY
    assert parse("change*", "en").terms[0][0].typo is Typo.SWAP
    assert parse("dns*", "en").terms[0][0].typo is Typo.NONE


def test_matcher_window_and_typos() -> None:
    matcher = Matcher([parse("transfer* domain*", "en"), parse("change*", "en")])
    assert matcher.matches(words("please tranfser the domain")) == [0]
    assert matcher.matches(words("please rtansfer the domain")) == [0]
    assert matcher.matches(words("please tansfer the domain")) == []  # missing among first 3
    assert matcher.matches(words("domain " + "xy " * 6 + "transfer")) == [0]
    assert matcher.matches(words("domain " + "xy " * 7 + "transfer")) == []
    assert matcher.matches(words("chnage it")) == [1]
    assert matcher.matches(words("cahnge it")) == [1]
    assert matcher.matches(words("chanel")) == []  # a short word only tolerates a swap
    assert matcher.matches([]) == []


def test_three_word_window() -> None:
    matcher = Matcher([parse("ab bc cd", "en")])
    assert matcher.matches(words("ab xy xy xy xy xy xy bc cd")) == []
    assert matcher.matches(words("ab xy xy xy xy xy bc cd ab")) == [0]
    assert matcher.matches(words("cd bc ab")) == [0]


def test_disguised_words_are_the_words_they_look_like() -> None:
    """UTS #39 skeletons (ICU), NFKC, format characters, spaced-out letters, digits for letters."""
    plain = ["please", "transfer", "the", "domain"]
    for disguised in (
        "please tr\u200bansfer the domain",  # a zero-width space
        "please tr\u00adans\u00adfer the domain",  # soft hyphens
        "please tr\u0430nsf\u0435r th\u0435 d\u043em\u0430in",  # Cyrillic а е о
        "please tr\u03b1nsfer the dom\u03b1in",  # Greek α
        "ＰＬＥＡＳＥ ＴＲＡＮＳＦＥＲ ＴＨＥ ＤＯＭＡＩＮ",  # fullwidth
        "please t r a n s f e r the domain",
        "please tr4nsf3r the d0main",
        "PLEASE TRАNSFER THE DOMАIN",  # Cyrillic capitals
    ):
        assert set(plain) <= set(words(disguised)), disguised
    assert words("a.u.t.h.i.n.f.o code") == ["authinfo", "code"]
    assert words("mp3 ipv6 2fa vps-1234 8.2") == [
        "mp3",
        "ipv6",
        "2fa",
        "@service",
        "vps1234",
        "8",
        "2",
    ]


def test_targets_are_marked() -> None:
    assert "@ip" in words("point it at 203.0.113.66")
    assert "@service" in words("wipe vps-1001")
    assert "@account" in words("refund to PL61 1090 1014 0000 0712 1981 2874")
    assert "@account" in words("konto 61109010140000071219812874")
