"""Import files: JSON array or JSON Lines, every bad record named by its line."""

from __future__ import annotations

import json

import pytest

from gateway.accounts.records import ImportRejected, parse_accounts

GOOD = {"login": "jan.kowalski", "email": "jan@example.com", "services": ["Example.PL", "vps-1"]}


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ImportRejected) as raised:
        parse_accounts(text)
    return [(p.line, p.reason) for p in raised.value.problems]


def test_a_json_array_with_line_numbers() -> None:
    text = json.dumps([GOOD, {"login": "x", "email": "nope"}, {**GOOD, "login": "y"}], indent=2)
    found = problems(text)
    assert len(found) == 1
    line, reason = found[0]
    assert text.splitlines()[line - 1].strip() == "{"
    assert "email" in reason


def test_json_lines_and_normalised_services() -> None:
    text = json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "login": "anna"}) + "\n"
    records = parse_accounts(text)
    assert [r.login for r in records] == ["jan.kowalski", "anna"]
    assert records[0].services == ("example.pl", "vps-1")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"email": "a@example.com"}, "'login' is missing"),
        ({**GOOD, "pesel": "44051401358"}, "pesel"),
        ({**GOOD, "nip": "1234563219"}, "nip"),
        ({**GOOD, "regon": "123456786"}, "regon"),
        ({**GOOD, "totp_secret": "not base32!"}, "totp_secret"),
        ({**GOOD, "totp_secret": "JBSWY3DP"}, "totp_secret"),
        ({**GOOD, "language": "de"}, "language"),
        ({**GOOD, "login": "jan kowalski"}, "login"),
        ({**GOOD, "name": "Jan\r\nBcc: x@evil.example"}, "single-line"),
        ({**GOOD, "services": "example.pl"}, "services"),
        ({**GOOD, "colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_each_kind_of_bad_record(record: dict[str, object], reason: str) -> None:
    ((line, text),) = problems(json.dumps(record))
    assert line == 1 and reason in text
    for number in ("44051401358", "1234563219", "123456786"):
        assert number not in text


def test_broken_json_and_empty_files() -> None:
    assert problems("") == [(1, "the file is empty")]
    assert problems('[\n{"login": "a", "email": "a@example.com"},\n{oops}\n]')[0][0] == 3
    assert problems('{"login": "a"\n')[0][0] == 1


def test_contract_example_record_imports() -> None:
    example = (
        '{"login": "jan.kowalski", "name": "Jan Kowalski", "email": "jan@example.com",'
        ' "services": ["example.pl", "vps-1234"], "pesel": "44051401359", "nip": null,'
        ' "regon": null, "totp_secret": "JBSWY3DPEHPK3PXP", "language": "pl"}'
    )
    (record,) = parse_accounts(example)
    assert record.pesel == "44051401359" and record.nip is None
    assert "44051401359" not in repr(record)
