"""How the bundled policies recognise what clients actually type."""

from __future__ import annotations

import time

import pytest

from policies import IntentKind, PolicySet

EXPECTED = {
    "domain_transfer": [
        "chcę przenieść domenę",
        "przeniesienie domeny example.pl",
        "przenieśc domene",
        "przeniesc domene do innego rejestratora",
        "przenosiny domeny",
        "poproszę kod authinfo",
        "auth-info dla nowak.pl",
        "kod EPP",
        "transfer domeny",
        "move my domain to another registrar",
        "przeniesinie domeny",
        "tranfser my domain please",
        "PROSZĘ O KOD AUTHINFO",
    ],
    "owner_change": ["zmiana właściciela domeny", "cesja domeny", "ZMIANA WLASCICIELA"],
    "contact_change": [
        "zmiana danych",
        "chcę zmienić adres e-mail",
        "change the contact e-mail",
        "Zmiencie Adres Mailowy",
    ],
    "invoice_duplicate": [
        "duplikat faktury",
        "kopia faktury za maj",
        "duplikta faktury",
        "send me a duplicate invoice",
    ],
    "service_delete": ["usunięcie konta", "USUNIECIE KONTA", "please delete my account"],
    "password_reset": ["reset hasła", "nie pamiętam hasła", "I forgot my pasword"],
    "dns_change": ["rekordy DNS", "serwery nazw", "DNS A record", "nameservers", "namesevers"],
    "service_status": ["czy domena example.pl jest opłacona?", "when does example.com expire"],
    "general_question": ["what are your opening hours", "dzień dobry", ""],
}


@pytest.mark.parametrize(
    ("text", "intent"),
    [(text, intent) for intent, texts in EXPECTED.items() for text in texts],
)
def test_recognises(bundled: PolicySet, text: str, intent: str) -> None:
    assert bundled.recognize(text).intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "why did you charge my card twice?",  # "charge" is one letter from "change"
        "Rozważam zakup większego pakietu",  # "rozważam" is one letter from "rozwiąż"
        "what does your company do",
    ],
)
def test_short_words_are_not_fuzzy(bundled: PolicySet, text: str) -> None:
    assert bundled.recognize(text).kind is IntentKind.QUESTION


def test_words_must_be_close_together(bundled: PolicySet) -> None:
    near = "transfer the domain"
    far = "transfer a b c d e f g h i j k l domain"
    assert bundled.recognize(near).intent == "domain_transfer"
    assert bundled.recognize(far).intent != "domain_transfer"


def test_nothing_matched_is_general_question(bundled: PolicySet) -> None:
    seen = bundled.recognize("lorem ipsum")
    assert (seen.intent, seen.kind, seen.ambiguous, seen.candidates) == (
        "general_question",
        IntentKind.QUESTION,
        False,
        (),
    )


def test_a_change_outranks_a_question_in_the_same_message(bundled: PolicySet) -> None:
    seen = bundled.recognize("when does my domain expire? also please change the DNS records")
    assert seen.intent == "dns_change"
    assert seen.candidates[-1] == "service_status"


def test_ambiguous_changes(bundled: PolicySet) -> None:
    seen = bundled.recognize("przenieście domenę, a potem serwery nazw")
    assert seen.ambiguous
    assert {"domain_transfer", "dns_change"} <= set(seen.candidates)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Dzień dobry, proszę o zmianę maila", "pl"),
        ("Hello, please change my e-mail", "en"),
        ("zmiencie maila", "pl"),
        ("", "pl"),
        ("12345", "pl"),
    ],
)
def test_language(bundled: PolicySet, text: str, language: str) -> None:
    assert bundled.recognize(text).language == language


def test_linear_on_a_huge_message(bundled: PolicySet) -> None:
    huge = "zmiana danych kontaktowych, proszę " * 30_000  # about 1 MB
    start = time.perf_counter()
    assert bundled.recognize(huge).intent == "contact_change"
    assert time.perf_counter() - start < 5


def test_words_seen_once_do_not_pile_up(bundled: PolicySet) -> None:
    """Every chat line brings new numbers and names: hours of them must neither grow the node
    nor crowd out the words clients use every day."""
    from policies.matcher import MEMO_SIZE

    memo = bundled._recognizer._matcher._memo  # noqa: SLF001 - the memory under test
    for n in range(MEMO_SIZE):
        assert bundled.recognize(f"order {n} ref x{n}y").intent == "general_question"
        assert len(memo) <= MEMO_SIZE
    assert bundled.recognize("tranfser my domain please").intent == "domain_transfer"
    assert "tranfser" in memo
