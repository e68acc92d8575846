"""Every kind of load error is reported, all at once, with the file and line to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from policies import PolicyError, PolicySet, Problem, bundled_path, check

WriteFolder = Callable[..., Path]

INTENT = """\
[[intent]]
name = "dns_change"
kind = "change"
description = "Change DNS records."
requires = { chat = "authenticated", email = "authenticated" }

[intent.match]
en = ["dns* record*"]
"""


def located(problems: list[Problem]) -> list[tuple[str, int]]:
    return [(Path(problem.file).name, problem.line) for problem in problems]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_bundled_policies_are_valid() -> None:
    assert check(bundled_path()) == []
    policy = PolicySet.load()
    assert policy.intent("general_question") is not None
    names = {intent.name for intent in policy.intents}
    assert {
        "domain_transfer",
        "owner_change",
        "contact_change",
        "dns_change",
        "password_reset",
        "service_delete",
        "invoice_duplicate",
        "other_change",
        "service_status",
        "general_question",
    } <= names


def test_a_valid_folder_loads(write_folder: WriteFolder) -> None:
    folder = write_folder({"dns.toml": INTENT, ".hidden.toml": "not toml", "notes.txt": "x"})
    assert check(folder) == []
    policy = PolicySet.load(folder)
    assert [intent.name for intent in policy.intents] == [
        "other_change",
        "general_question",
        "dns_change",
    ]
    assert policy.recognize("please fix the DNS records").intent == "dns_change"


def test_toml_syntax_error_has_its_line(write_folder: WriteFolder) -> None:
    folder = write_folder({"broken.toml": INTENT + '\n[[intent]]\nname = "x\n'})
    problem = only(check(folder))
    assert located([problem]) == [("broken.toml", 11)]
    assert "TOML syntax" in problem.reason


def test_unknown_keys_are_errors(write_folder: WriteFolder) -> None:
    text = INTENT.replace('kind = "change"', 'kind = "change"\nrequire = "authenticated"')
    folder = write_folder({"a.toml": text, "b.toml": "colour = 'blue'\n"})
    problems = check(folder)
    assert located(problems) == [("a.toml", 4), ("b.toml", 1)]
    assert "unknown key 'require'" in problems[0].reason
    assert "unknown key 'colour'" in problems[1].reason


def test_bad_requirement_value(write_folder: WriteFolder) -> None:
    text = INTENT.replace('email = "authenticated"', 'email = "authenticate"')
    problem = only(check(write_folder({"a.toml": text})))
    assert located([problem]) == [("a.toml", 5)]
    assert "bad requirement 'authenticate' for email" in problem.reason


def test_unknown_channel_and_bad_kind(write_folder: WriteFolder) -> None:
    text = INTENT.replace("chat =", "sms =").replace('"change"', '"changes"')
    problems = check(write_folder({"a.toml": text}))
    assert located(problems) == [("a.toml", 3), ("a.toml", 5)]
    assert "bad kind 'changes'" in problems[0].reason
    assert "unknown channel 'sms'" in problems[1].reason


def test_missing_fields_point_at_the_intent(write_folder: WriteFolder) -> None:
    text = '# comment\n\n[[intent]]\nname = "bare"\n\n[intent.match]\nen = ["bare"]\n'
    problem = only(check(write_folder({"a.toml": text})))
    assert located([problem]) == [("a.toml", 3)]
    assert "missing kind, description, requires" in problem.reason


def test_bad_patterns_have_their_lines(write_folder: WriteFolder) -> None:
    text = INTENT.replace(
        'en = ["dns* record*"]',
        'en = [\n  "dns* record*",\n  "a* record",\n  "do*main",\n  "x||y",\n  "@host",\n]',
    )
    problems = check(write_folder({"a.toml": text}))
    assert located(problems) == [("a.toml", 10), ("a.toml", 11), ("a.toml", 12), ("a.toml", 13)]
    assert all(problem.reason.startswith("bad pattern") for problem in problems)
    assert "shorter than 3 letters" in problems[0].reason


def test_bad_duties(write_folder: WriteFolder) -> None:
    text = INTENT.replace(
        "\n[intent.match]",
        'duties = { notify_contact = "yes", cooling_off_seconds = -1, alarm = true }\n\n'
        "[intent.match]",
    )
    problems = check(write_folder({"a.toml": text}))
    assert located(problems) == [("a.toml", 6)] * 3
    reasons = " / ".join(problem.reason for problem in problems)
    assert "notify_contact must be true or false" in reasons
    assert "cooling_off_seconds" in reasons
    assert "unknown duty 'alarm'" in reasons


def test_intent_without_patterns_could_never_match(write_folder: WriteFolder) -> None:
    text = INTENT.replace('en = ["dns* record*"]', "en = []")
    problem = only(check(write_folder({"a.toml": text})))
    assert "could never be recognised" in problem.reason


def test_same_intent_twice_in_one_file(write_folder: WriteFolder) -> None:
    text = INTENT + "\n" + INTENT.replace("dns* record*", "nameserver*")
    problem = only(check(write_folder({"a.toml": text})))
    assert located([problem]) == [("a.toml", 11)]
    assert "'dns_change' is declared again" in problem.reason
    assert "a.toml:2" in problem.reason


def test_same_intent_in_two_files(write_folder: WriteFolder) -> None:
    other = "# the same name again\n" + INTENT.replace("dns* record*", "nameserver*")
    problem = only(check(write_folder({"a.toml": INTENT, "b.toml": other})))
    assert located([problem]) == [("b.toml", 3)]
    assert "declared again (first at" in problem.reason


def test_same_pattern_in_two_intents_is_a_contradiction(write_folder: WriteFolder) -> None:
    other = INTENT.replace("dns_change", "zone_change").replace("dns* record*", "record* dns*")
    problem = only(check(write_folder({"a.toml": INTENT, "b.toml": other})))
    assert located([problem]) == [("b.toml", 8)]
    assert "also recognises intent 'dns_change'" in problem.reason


def test_catch_alls_must_be_exactly_one_per_kind(write_folder: WriteFolder) -> None:
    second = (
        INTENT.replace("dns_change", "also_other").replace("dns* record*", "modif*")
        + "catch_all = true\n"
    ).replace('en = ["modif*"]\ncatch_all = true', 'en = ["modif*"]')
    second = second.replace('kind = "change"', 'kind = "change"\ncatch_all = true')
    problem = only(check(write_folder({"a.toml": second})))
    assert located([problem]) == [("a.toml", 2)]
    assert "second catch-all change intent" in problem.reason
    folder = write_folder({"00-catch-all.toml": "", "a.toml": INTENT})
    reasons = [problem.reason for problem in check(folder)]
    assert len(reasons) == 2
    assert all("no catch-all" in reason for reason in reasons)


def test_languages_must_be_declared_once_with_one_default(write_folder: WriteFolder) -> None:
    text = INTENT.replace('en = ["dns* record*"]', 'en = ["dns* record*"]\nde = ["dns* eintrag*"]')
    again = '[language.en]\ndefault = true\nwords = ["the"]\n'
    problems = check(write_folder({"a.toml": text, "b.toml": again}))
    assert located(problems) == [("a.toml", 9), ("b.toml", 1)]
    assert "undeclared language 'de'" in problems[0].reason
    assert "language 'en' is declared again (first at" in problems[1].reason
    two_defaults = "[language.de]\ndefault = true\n"
    problem = only(check(write_folder({"b.toml": two_defaults})))
    assert located([problem]) == [("b.toml", 1)]
    assert "a second default language (first: 'pl'" in problem.reason


def test_no_default_language(write_folder: WriteFolder) -> None:
    languages = '[language.pl]\nwords = ["jest"]\n\n[language.en]\nwords = [1]\n'
    problems = check(write_folder({"00-languages.toml": languages}))
    reasons = [problem.reason for problem in problems]
    assert any("is not a single word" in reason for reason in reasons)
    assert any("no default language" in reason for reason in reasons)


def test_empty_and_missing_folders(tmp_path: Path, write_folder: WriteFolder) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [problem.reason for problem in check(empty)] == [
        "no policy files (*.toml) in this folder"
    ]
    assert check(tmp_path / "missing")[0].reason == "not a folder"
    only_languages = write_folder({"00-catch-all.toml": "# nothing here\n"})
    assert "no intents declared" in only(check(only_languages)).reason


def test_not_utf8(write_folder: WriteFolder) -> None:
    folder = write_folder()
    (folder / "latin2.toml").write_bytes("# zażółć\n".encode("iso-8859-2"))
    problem = only(check(folder))
    assert located([problem]) == [("latin2.toml", 1)]
    assert "not UTF-8" in problem.reason


def test_all_problems_are_reported_at_once_and_load_raises(write_folder: WriteFolder) -> None:
    folder = write_folder(
        {
            "a.toml": INTENT.replace('"change"', '"chnage"'),
            "b.toml": "[[intent]\n",
            "c.toml": INTENT.replace('"dns* record*"', '"*"').replace("dns_change", "c"),
        }
    )
    problems = check(folder)
    assert [Path(problem.file).name for problem in problems] == ["a.toml", "b.toml", "c.toml"]
    with pytest.raises(PolicyError) as raised:
        PolicySet.load(folder)
    assert raised.value.problems == problems
    assert str(raised.value).splitlines() == [str(problem) for problem in problems]


def test_problem_prints_as_file_line_reason() -> None:
    assert str(Problem("policies/a.toml", 7, "bad kind")) == "policies/a.toml:7: bad kind"


def test_commented_keys_are_not_taken_for_the_real_ones(write_folder: WriteFolder) -> None:
    text = INTENT.replace(
        "requires = {", '# requires = { chat = "none" } was too weak\nrequires = {'
    ).replace('chat = "authenticated"', 'chat = "strong"')
    problem = only(check(write_folder({"a.toml": text})))
    assert located([problem]) == [("a.toml", 6)]


def test_request_patterns_of_a_language_are_checked(write_folder: WriteFolder) -> None:
    languages = (
        '[language.pl]\ndefault = true\nrequests = ["prosze", "x* y"]\nactions = ["y* z"]\n\n'
        '[language.en]\nrequests = "please"\nactions = "send"\n'
    )
    reasons = [problem.reason for problem in check(write_folder({"00-languages.toml": languages}))]
    assert any("bad requests pattern" in reason and "x*" in reason for reason in reasons)
    assert any("bad actions pattern" in reason and "y*" in reason for reason in reasons)
    assert any("requests must be a list" in reason for reason in reasons)
    assert any("actions must be a list" in reason for reason in reasons)
