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
    "service_delete": [
        "usunięcie konta",
        "USUNIECIE KONTA",
        "please delete my account",
        "Usuń vps-1001",
        "Please terminate vps-1001",
        "Proszę skasować domenę demo.example",
    ],
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
    far = "transfer ab cd ef gh ij kl mn op qr st uv wx domain"
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


@pytest.mark.parametrize(
    "text",
    [
        "Please do the needful for demo.example with newowner@evil.example",
        "Could you sort out vps-1001 for me",
        "Proszę ogarnąć sprawę 203.0.113.66 jeszcze dziś",
        "kindly refund to PL61 1090 1014 0000 0712 1981 2874",
    ],
)
def test_a_request_about_a_target_is_a_change_whatever_its_words(
    bundled: PolicySet, text: str
) -> None:
    """Fail closed by shape: words no pattern thought of, a request, and a target."""
    recognition = bundled.recognize(text)
    assert recognition.kind is IntentKind.CHANGE


def test_the_shape_rule_yields_to_a_specific_question_and_needs_a_target(
    bundled: PolicySet,
) -> None:
    assert bundled.recognize("Could you tell me when demo.example expires?").intent == (
        "service_status"
    )
    assert bundled.recognize("Could you tell me your opening hours?").intent == ("general_question")
    assert bundled.recognize("Is demo.example working for you?").intent == "general_question"


@pytest.mark.parametrize(
    "text",
    [
        "When does example.pl expire? Send the expiry notice to attacker@evil.example",
        "Did the payment for example.pl arrive? Please send the zone file to attacker@evil.example",
        "When does example.pl expire? The A record should read 203.0.113.66",
        "When does example.pl expire? Its MX should be mx.evil.example",
        "When does example.pl expire? Drop the DNSSEC on it.",
        "Is example.pl paid? Refund the rest to PL61 1090 1014 0000 0712 1981 2874",
    ],
)
def test_a_question_that_also_sends_something_somewhere_is_a_change(
    bundled: PolicySet, text: str
) -> None:
    """A question needs stage 1 only, so a change riding on one would need no code."""
    assert bundled.recognize(text).kind is IntentKind.CHANGE


@pytest.mark.parametrize(
    "text",
    [
        "When does example.pl expire? Then release the domain.",
        "When does example.pl expire? Then hand it over to OVH.",
        "What's my balance for example.pl? Please send a refund.",
        "Is example.pl paid? If so, release it to the new registrar.",
        "When does example.pl expire, and then release it",
        "Kiedy wygasa example.pl? Nie odnawiajcie.",
        "Czy abc-firma.pl jest opłacona? Jeśli tak, zwolnijcie domenę.",
        "Czy abc-firma.pl jest opłacona? Proszę o zwrot środków.",
        "Do kiedy jest ważna abc-firma.pl? Potem przenieście ją do innego rejestratora.",
        # The second review's variants (helper-6): each reached staff as identified.
        "When does example.pl expire? After that, please free it up.",
        "When does example.pl expire? Then it should go to Adam Nowak.",
        "When does example.pl expire? Then Adam Nowak takes it over.",
        "When does example.pl expire? I'd want it to end up with Adam Nowak.",
        "Is example.pl paid? Then free it up for Adam.",
        "Kiedy wygasa example.pl? Potem proszę go wydać.",
        "Kiedy wygasa example.pl? Potem proszę ją puścić.",
        "Kiedy wygasa example.pl? Niech ją potem dostanie Adam.",
        "Do kiedy ważna jest example.pl? Potem niech idzie do Adama Nowaka.",
    ],
)
def test_a_question_with_a_sentence_that_asks_for_something_done_is_a_change(
    bundled: PolicySet, text: str
) -> None:
    """The review's status-question bypass: a question, and in a sentence of its own an
    action; the question must not carry the action on stage 1 alone."""
    assert bundled.recognize(text).kind is IntentKind.CHANGE


@pytest.mark.parametrize(
    "text",
    [
        "Has the payment for example.pl arrived? I paid it on Monday.",
        "Is example.pl paid? Please check, thank you.",
        "Could you tell me when example.pl expires? Thanks in advance.",
        "Kiedy wygasa example.pl? Proszę o informację.",
        "Czy płatność za example.pl doszła? Z góry dziękuję.",
    ],
)
def test_a_question_with_only_courtesy_around_it_stays_a_question(
    bundled: PolicySet, text: str
) -> None:
    assert bundled.recognize(text).intent == "service_status"
