"""Login and one-time code as typed in chat or written in an e-mail, including quoted replies."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.credentials import (
    LOGIN_MAX_LENGTH,
    LOGIN_PATTERN,
    MAX_SCAN_CHARS,
    Credentials,
    credentials_from_fields,
    parse_credentials,
)

JAN = Credentials("jan.kowalski", "123456")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login jan.kowalski code 123456", JAN),
        ("login: jan.kowalski, kod: 123 456", JAN),
        ("Login: jan.kowalski\nCode: 12345678", Credentials("jan.kowalski", "12345678")),
        ("mój login to jan.kowalski a kod 123456", JAN),
        ("LOGIN=jan.kowalski KOD=123456", JAN),
        ("login jan.kowalski hasło jednorazowe 123456", JAN),
        ("Login: jan.kowalski\r\nKod: 1234-5678\r\n", Credentials("jan.kowalski", "12345678")),
        ("login jan.kowalski. Kod jednorazowy: 123-456", JAN),
        ("kod 123456, login jan.kowalski", JAN),
        ("Użytkownik: jan.kowalski\nOTP: 123456", JAN),
        ("uzytkownik jan.kowalski one-time code 123456", JAN),
        ("login do panelu: jan.kowalski, kod z panelu: 123456", JAN),
        ("Username: jan@example.com\nCode: 123456", Credentials("jan@example.com", "123456")),
        ("login\tjan.kowalski\tcode\t123456", JAN),
        ("login jan.kowalski code 1234 5678!", Credentials("jan.kowalski", "12345678")),
        ("login jan_k+x@example.com kod 123456", Credentials("jan_k+x@example.com", "123456")),
    ],
)
def test_parses_what_clients_type(text: str, expected: Credentials) -> None:
    assert parse_credentials(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("login jan.kowalski", "no code"),
        ("kod 123456", "no login"),
        ("login jan.kowalski code 12345", "5 digits"),
        ("login jan.kowalski code 1234567", "7 digits"),
        ("login jan.kowalski code 123 4567", "ambiguous grouping"),
        ("login jan.kowalski code 123456 789", "more digits follow"),
        ("login jan.kowalski code 123456a", "runs on into letters"),
        ("login jan.kowalski code １２３４５６", "not ASCII digits"),
        ("login jan.kowalski hasło 123456", "a bare password label is not a code label"),
        ("login jańkowalski code 123456", "not a login character"),
        ("login .jan code 123456", "login must start alphanumeric"),
        ("login " + "a" * (LOGIN_MAX_LENGTH + 1) + " code 123456", "login too long"),
        ("Login:\njan.kowalski\nCode:\n123456", "label and value on different lines"),
        ("jan.kowalski 123456", "no labels at all"),
        ("Nie mogę się zalogować, kod nie działa", "prose"),
        ("", "empty"),
    ],
)
def test_refuses_anything_unclear(text: str, why: str) -> None:
    assert parse_credentials(text) is None, why


AUTO_REPLY = (
    "Dzień dobry,\n"
    "otrzymaliśmy prośbę o zmianę serwerów DNS domeny example.pl [T-ABC123].\n"
    "Aby ją potwierdzić, odpowiedz na tę wiadomość, podając:\n"
    "Login: …\n"
    "Code: …\n"
    "(albo Kod: …)\n"
)


def quote(text: str, marker: str = "> ") -> str:
    return "".join(f"{marker}{line}\n" for line in text.splitlines())


def test_our_auto_reply_never_parses_quoted_or_not() -> None:
    assert parse_credentials(AUTO_REPLY) is None
    assert parse_credentials(quote(AUTO_REPLY)) is None
    assert parse_credentials("Proszę bardzo\n\n" + quote(AUTO_REPLY, ">")) is None


def test_reply_above_the_quote_is_read() -> None:
    body = "Login: jan.kowalski\nCode: 123456\n\nW dniu 23.11.2026 napisał:\n" + quote(AUTO_REPLY)
    assert parse_credentials(body) == JAN


def test_reply_below_the_quote_is_read() -> None:
    body = quote(AUTO_REPLY) + "\nlogin: jan.kowalski\nkod: 123456\n"
    assert parse_credentials(body) == JAN


def test_quoted_credentials_of_an_earlier_message_are_ignored() -> None:
    body = "Dziękuję!\n\n" + quote("Login: jan.kowalski\nCode: 123456") + quote(quote(AUTO_REPLY))
    assert parse_credentials(body) is None


def test_outlook_style_original_is_ignored() -> None:
    body = "Dziękuję\n\n-----Original Message-----\nLogin: jan.kowalski\nCode: 123456\n"
    assert parse_credentials(body) is None
    body = "Login: jan.kowalski\nKod: 123456\n\n-----Wiadomość oryginalna-----\n" + AUTO_REPLY
    assert parse_credentials(body) == JAN


def test_only_the_first_pair_counts() -> None:
    body = "Login: jan.kowalski\nCode: 123456\n\nLogin: anna.nowak\nCode: 654321\n"
    assert parse_credentials(body) == JAN


def test_only_the_start_of_a_huge_mail_is_read() -> None:
    assert parse_credentials("x" * MAX_SCAN_CHARS + "\nlogin jan.kowalski code 123456") is None
    text = "login jan.kowalski code 123456\n" + "x" * 25_000_000
    started = time.perf_counter()
    assert parse_credentials(text) == JAN
    assert time.perf_counter() - started < 2


def test_repr_and_str_hide_the_code() -> None:
    credentials = Credentials("jan.kowalski", "987654")
    for shown in (repr(credentials), str(credentials), f"{credentials}", f"{[credentials]}"):
        assert "987654" not in shown
        assert "jan.kowalski" in shown


@pytest.mark.parametrize(
    ("login", "code", "expected"),
    [
        ("jan.kowalski", "123456", JAN),
        (" jan.kowalski ", " 123 456 ", JAN),
        ("jan.kowalski", "1234-5678", Credentials("jan.kowalski", "12345678")),
        ("jan.kowalski", "12345", None),
        ("", "123456", None),
        ("jan kowalski", "123456", None),
        ("jan.kowalski", "abcdef", None),
    ],
)
def test_credentials_from_fields(login: str, code: str, expected: Credentials | None) -> None:
    assert credentials_from_fields(login, code) == expected


# --- properties -------------------------------------------------------------------------------

LABEL_WORDS = re.compile(r"log|kod|code|otp|ytkownik|user|has[łl]o|time|nazwa", re.IGNORECASE)
NOT_LOGINS = {"a", "i", "and", "do", "is", "jest", "to", "oraz", "kod", "code", "otp", "totp"}
NOT_LOGINS |= {"passcode", "login", "hasło", "haslo", "password"}

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
logins = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(ALNUM),
    st.text(alphabet=ALNUM + "._@+-_", max_size=LOGIN_MAX_LENGTH - 1),
).filter(lambda login: not login.endswith(".") and login.lower() not in NOT_LOGINS)
codes = st.one_of(
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)
FORMATS = [
    "login {login} code {code}",
    "login: {login}, kod: {code}",
    "Login: {login}\nCode: {code}",
    "mój login to {login} a kod {code}",
    "LOGIN={login} KOD={code}",
    "login {login} hasło jednorazowe {code}",
    "Użytkownik: {login}\nKod jednorazowy: {code}",
    "kod: {code}; login: {login}",
]
surroundings = st.text(max_size=60).filter(lambda text: not LABEL_WORDS.search(text))


def typed(code: str, style: int) -> str:
    """The code as a client might group it."""
    half = len(code) // 2
    return [code, f"{code[:half]} {code[half:]}", f"{code[:half]}-{code[half:]}"][style]


@given(
    logins,
    codes,
    st.integers(0, 2),
    st.sampled_from(FORMATS),
    surroundings,
    surroundings,
    st.sampled_from(["\n", ". ", "! ", " \n", ".\n\n"]),
)
def test_generated_credentials_parse_back_exactly(
    login: str, code: str, style: int, form: str, before: str, after: str, gap: str
) -> None:
    text = before + "\n" + form.format(login=login, code=typed(code, style)) + gap + after
    assert parse_credentials(text) == Credentials(login, code)


@given(logins, codes, st.sampled_from(FORMATS), st.sampled_from(["> ", ">", ">> ", "  > "]))
def test_quoted_credentials_never_parse(login: str, code: str, form: str, marker: str) -> None:
    quoted = quote(form.format(login=login, code=code), marker)
    assert parse_credentials(quoted + quote(AUTO_REPLY, marker)) is None


@given(surroundings)
def test_client_text_over_a_quoted_auto_reply_never_parses(text: str) -> None:
    assert parse_credentials(text + "\n\n" + quote(AUTO_REPLY)) is None


@given(st.text())
def test_never_raises(text: str) -> None:
    result = parse_credentials(text)
    if result is not None:
        assert LOGIN_PATTERN.fullmatch(result.login)
        assert len(result.code) in (6, 8) and result.code.isdigit()


@pytest.mark.parametrize(
    "text",
    [
        "login " * 200_000,
        "kod " * 250_000,
        "login: " + "a" * 1_000_000,
        "code 1" * 200_000,
        ">" * 1_000_000,
        "\n" * 1_000_000,
    ],
)
def test_is_fast_on_junk(text: str) -> None:
    started = time.perf_counter()
    parse_credentials(text)
    assert time.perf_counter() - started < 2
