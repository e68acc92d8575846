"""Service names picked out of client text: domains (IDN too) and letters-digits service ids."""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.service_names import (
    FILE_EXTENSIONS,
    MAX_SCAN_CHARS,
    find_service_names,
    normalize_service_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Proszę o zmianę DNS dla example.pl", ["example.pl"]),
        (
            "Domeny: Example.PL, sub.example.com.pl i my-shop.eu.",
            ["example.pl", "sub.example.com.pl", "my-shop.eu"],
        ),
        ("example.pl i jeszcze raz EXAMPLE.pl", ["example.pl"]),
        ("https://example.pl/path/to/page?x=1", ["example.pl"]),
        ("http://www.example.pl/", ["example.pl"]),
        ("www.example.pl", ["example.pl"]),
        ("www.pl", ["www.pl"]),
        ("example.pl:8080", ["example.pl"]),
        ("(example.pl)", ["example.pl"]),
        ("zażółć.pl", ["zażółć.pl"]),
        ("ZAŻÓŁĆ.PL", ["zażółć.pl"]),
        ("xn--za-6ja4f8n1l.pl", ["zażółć.pl"]),
        ("usługa vps-1234 oraz hosting-42", ["vps-1234", "hosting-42"]),
        ("VPS-1234", ["vps-1234"]),
        ("vps-1234.example.pl", ["vps-1234.example.pl"]),
        ("https://panel.example.net/services/vps-1234", ["panel.example.net", "vps-1234"]),
        ("example.pl, vps-1234, example.pl", ["example.pl", "vps-1234"]),
    ],
)
def test_finds_service_names(text: str, expected: list[str]) -> None:
    assert find_service_names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "napisz na jan@example.com",
        "jan.kowalski@example.pl",
        "<jan@sub.example.pl>",
        "mailto:jan@example.pl",
        "w załączniku faktura.pdf i image.png oraz backup.tar.gz",
        "skrypt deploy.sh, plik index.php i .htaccess",
        "VPS1234",  # no hyphen: indistinguishable from logins and product names
        "kodowanie utf-8, iso-8859-2, windows-1250, covid-19, sha-256, ipv-6",
        "np. tj. itd. e.g. i.e.",
        "wersja 1.2.3, kwota 12.50",
        "vps-1234-old",
        "a.pl.b",
        "",
    ],
)
def test_ignores_what_is_not_a_service(text: str) -> None:
    assert find_service_names(text) == []


def test_a_url_yields_its_host_and_any_domain_its_path_names() -> None:
    assert find_service_names("https://example.pl/katalog/plik.pdf") == ["example.pl"]
    assert find_service_names("https://example.pl/katalog/inna.domena.pl") == [
        "example.pl",
        "inna.domena.pl",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Transfer demo.example/example.pl please",
        "Transfer demo.example\\example.pl please",
        "Transfer demo.example and -example.pl",
        "Transfer demo.example and @example.pl",
        "Transfer http://demo.example/example.pl",
    ],
)
def test_a_name_behind_a_slash_or_a_lone_hyphen_is_named(text: str) -> None:
    """The review's riders: each hid example.pl from the scope of demo.example's request."""
    assert find_service_names(text) == ["demo.example", "example.pl"]


def test_only_the_start_of_a_huge_text_is_searched() -> None:
    assert find_service_names(" " * MAX_SCAN_CHARS + "example.pl") == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Example.PL", "example.pl"),
        (" .example.pl. ", "example.pl"),
        ("\u00a0example.pl\n", "example.pl"),
        ("XN--ZA-6JA4F8N1L.PL", "zażółć.pl"),
        ("sklep.xn--za-6ja4f8n1l.pl", "sklep.zażółć.pl"),
        ("zaz\u0307o\u0301łc\u0301.pl", "zażółć.pl"),  # decomposed as typed on some keyboards
        ("VPS-1234", "vps-1234"),
        ("xn--", "xn--"),  # not a well-formed IDN: kept as typed, lower-cased
        ("XN--ZZ.PL", "xn--zz.pl"),
        ("xn--" + "a" * 100 + ".pl", "xn--" + "a" * 100 + ".pl"),
        ("xn--ł.pl", "xn--ł.pl"),
        ("", ""),
    ],
)
def test_normalize_service_name(name: str, expected: str) -> None:
    assert normalize_service_name(name) == expected


@given(st.text())
def test_normalize_never_raises_and_is_stable(name: str) -> None:
    once = normalize_service_name(name)
    assert normalize_service_name(once) == once


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=30))
def test_normalize_survives_any_punycode_lookalike(tail: str) -> None:
    normalize_service_name(f"xn--{tail}.pl")


LETTERS = "abcdefghijklmnopqrstuvwxyząćęłńóśźż"
labels = st.text(alphabet=LETTERS + "0123456789", min_size=1, max_size=12).filter(
    lambda label: label[0] not in "0123456789"
)
tlds = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6).filter(
    lambda tld: tld not in FILE_EXTENSIONS
)
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]), st.lists(labels, min_size=1, max_size=3), tlds
).filter(lambda name: not name.startswith("www."))


@given(domains, st.sampled_from(["{d}", "https://{d}/x", "({d})", "{d}.", "{D}", "www.{d}"]))
@example("a.a.a.aa", "{d}")  # one-letter labels after the word "o" are not a name spelled out
@example("i.w.z.pl", "{d}")
def test_generated_domains_are_found(domain: str, form: str) -> None:
    text = "Dzień dobry, chodzi o " + form.format(d=domain, D=domain.upper()) + " — dziękuję"
    assert normalize_service_name(domain) in find_service_names(text)


@given(domains, st.text(alphabet="abcdefghijklmnopqrstuvwxyz.0123456789", min_size=1))
def test_addresses_are_not_services(domain: str, local: str) -> None:
    assert find_service_names(f"pisz na {local.strip('.') or 'x'}@{domain} proszę") == []


@given(st.text())
def test_never_raises(text: str) -> None:
    for name in find_service_names(text):
        assert name == normalize_service_name(name)


@pytest.mark.parametrize(
    "text",
    ["a." * 500_000, "ab." * 333_333 + "@", "a-" * 500_000, "a" * 1_000_000, "a@" * 500_000],
)
def test_is_fast_on_a_megabyte_of_junk(text: str) -> None:
    started = time.perf_counter()
    find_service_names(text)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    "text",
    [
        "transfer example dot pl",
        "transfer example[.]pl",
        "transfer example (dot) pl",
        "transfer example . pl",
        "transfer exam\u200bple.pl",
        "transfer example.p\u00adl",
        "transfer example\uff0epl",
        "transfer example\u3002pl",
        "transfer ＥＸＡＭＰＬＥ.PL",
        "transfer e x a m p l e . p l",
        "przenieście example kropka pl",
    ],
)
def test_a_disguised_name_is_the_name(text: str) -> None:
    assert "example.pl" in find_service_names(text)


def test_a_mixed_script_name_is_also_the_latin_name_it_imitates() -> None:
    assert find_service_names("transfer ex\u0430mple.pl") == ["ex\u0430mple.pl", "example.pl"]
    assert find_service_names("abc\u2011firma.pl") == ["abc-firma.pl"]
    # One script throughout is a name in its own right, not an imitation.
    assert find_service_names("zażółć.pl i пример.рф") == ["zażółć.pl", "пример.рф"]
    assert find_service_names("I have 3 . 5 GB, version 8.2") == []
