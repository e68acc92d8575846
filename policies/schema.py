"""Check one parsed policy file against the format and turn it into model values.

Every defect is collected rather than raised, so an operator sees all of them in one run of
``gateway policies check``. Unknown keys are errors, not ignored: a misspelt ``requires`` must
never silently leave an intent without its stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from policies.declared import DeclaredIntent, DeclaredLanguage, FileContents
from policies.locate import SourceMap, Span
from policies.model import Channel, Duties, Intent, IntentKind, Language, Problem, Requirement
from policies.normalize import words
from policies.pattern import PatternError, parse

_TOP_KEYS = ("intent", "language")
_INTENT_KEYS = ("name", "kind", "description", "requires", "duties", "match", "catch_all")
_REQUIRED_KEYS = ("name", "kind", "description", "requires")
_LANGUAGE_KEYS = ("words", "default", "requests", "actions")
_DUTIES: Mapping[str, tuple[Callable[[Any], bool], str]] = MappingProxyType(
    {
        "notify_contact": (lambda value: isinstance(value, bool), "true or false"),
        "cooling_off_seconds": (
            lambda value: type(value) is int and value >= 0,
            "a whole number of seconds >= 0",
        ),
        "require_sender_authentication": (lambda value: isinstance(value, bool), "true or false"),
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")


def _choices(values: Any) -> str:
    return ", ".join(str(value) for value in values)


class _FileReader:
    __slots__ = ("_file", "_found", "_source")

    def __init__(self, file: str, text: str) -> None:
        self._file = file
        self._source = SourceMap(text)
        self._found = FileContents(file)

    def _problem(self, line: int, reason: str) -> None:
        self._found.problems.append(Problem(self._file, line, reason))

    def read(self, document: Mapping[str, Any]) -> FileContents:
        for key in document:
            if key not in _TOP_KEYS:
                line = self._source.key(key, self._source.whole)
                self._problem(line, f"unknown key {key!r} (expected {_choices(_TOP_KEYS)})")
        intents = document.get("intent", [])
        if not isinstance(intents, list):
            line = self._source.key("intent", self._source.whole)
            self._problem(line, "'intent' must be an array of tables: write [[intent]]")
            intents = []
        for index, table in enumerate(intents):
            self._intent(index, table)
        languages = document.get("language", {})
        if not isinstance(languages, dict):
            line = self._source.key("language", self._source.whole)
            self._problem(line, "'language' must be a table: write [language.xx]")
            languages = {}
        for code, table in languages.items():
            self._language(code, table)
        return self._found

    def _intent(self, index: int, table: Any) -> None:
        span = self._source.intent_span(index)
        start = self._source.start(span)
        if not isinstance(table, dict):
            self._problem(start, "each [[intent]] must be a table")
            return
        before = len(self._found.problems)
        for key in table:
            if key not in _INTENT_KEYS:
                line = self._source.key(key, span)
                self._problem(line, f"unknown key {key!r} (expected {_choices(_INTENT_KEYS)})")
        missing = [key for key in _REQUIRED_KEYS if key not in table]
        if missing:
            self._problem(start, f"intent is missing {_choices(missing)}")
        name = self._name(table.get("name"), span)
        kind = self._kind(table, span)
        description = table.get("description", "-")
        if not isinstance(description, str) or not description.strip():
            self._problem(self._source.key("description", span), "description must be a text")
        requires = self._requires(table.get("requires", {}), span)
        duties = self._duties(table.get("duties", {}), span)
        catch_all = table.get("catch_all", False)
        if not isinstance(catch_all, bool):
            self._problem(self._source.key("catch_all", span), "catch_all must be true or false")
        patterns, pattern_lines, language_lines = self._match(table.get("match", {}), span)
        if not catch_all and not any(patterns.values()):
            self._problem(
                self._source.key("match", span) if "match" in table else start,
                "intent has no patterns under [intent.match] and could never be recognised",
            )
        if len(self._found.problems) > before or name is None or kind is None:
            return
        intent = Intent(
            name=name,
            kind=kind,
            description=str(description),
            requires=requires,
            duties=duties,
            patterns=patterns,
            catch_all=bool(catch_all),
        )
        line = self._source.value(name, span, after_key="name")
        self._found.intents.append(
            DeclaredIntent(intent, self._file, line, pattern_lines, language_lines)
        )

    def _name(self, name: Any, span: Span) -> str | None:
        if name is None:
            return None
        line = self._source.key("name", span)
        if not isinstance(name, str) or not _NAME.match(name):
            self._problem(line, f"name {name!r} must be lower_case_with_underscores")
            return None
        self._found.names.append((name, self._source.value(name, span, after_key="name")))
        return name

    def _kind(self, table: Mapping[str, Any], span: Span) -> IntentKind | None:
        value = table.get("kind")
        if value is None:
            return None
        if value not in list(IntentKind):
            line = self._source.key("kind", span)
            self._problem(line, f"bad kind {value!r} (expected {_choices(list(IntentKind))})")
            return None
        return IntentKind(value)

    def _requires(self, table: Any, span: Span) -> dict[Channel, Requirement]:
        if not isinstance(table, dict):
            self._problem(self._source.key("requires", span), "requires must be a table")
            return {}
        requires: dict[Channel, Requirement] = {}
        for key, value in table.items():
            line = self._source.key(key, span)
            if key not in list(Channel):
                self._problem(line, f"unknown channel {key!r} (expected {_choices(list(Channel))})")
            elif value not in list(Requirement):
                expected = _choices(list(Requirement))
                self._problem(line, f"bad requirement {value!r} for {key} (expected {expected})")
            else:
                requires[Channel(key)] = Requirement(value)
        return requires

    def _duties(self, table: Any, span: Span) -> Duties:
        if not isinstance(table, dict):
            self._problem(self._source.key("duties", span), "duties must be a table")
            return Duties()
        for key, value in table.items():
            line = self._source.key(key, span)
            if key not in _DUTIES:
                self._problem(line, f"unknown duty {key!r} (expected {_choices(_DUTIES)})")
            elif not _DUTIES[key][0](value):
                self._problem(line, f"{key} must be {_DUTIES[key][1]}")
        try:
            return Duties(**table)
        except TypeError:
            return Duties()

    def _match(
        self, table: Any, span: Span
    ) -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], int], dict[str, int]]:
        patterns: dict[str, tuple[str, ...]] = {}
        pattern_lines: dict[tuple[str, str], int] = {}
        language_lines: dict[str, int] = {}
        if not isinstance(table, dict):
            self._problem(self._source.key("match", span), "match must be a table of languages")
            return patterns, pattern_lines, language_lines
        for language, sources in table.items():
            line = self._source.key(language, span)
            language_lines[language] = line
            if not isinstance(sources, list):
                self._problem(line, f"match.{language} must be a list of patterns")
                continue
            for source in sources:
                source_line = self._source.value(str(source), span, after_key=language)
                try:
                    parse(source, language)
                except PatternError as error:
                    self._problem(source_line, f"bad pattern: {error}")
                    continue
                pattern_lines[(language, source)] = source_line
            patterns[language] = tuple(source for source in sources if isinstance(source, str))
        return patterns, pattern_lines, language_lines

    def _language(self, code: str, table: Any) -> None:
        span = self._source.language_span(code)
        start = self._source.start(span)
        if not _LANGUAGE_CODE.match(code):
            self._problem(start, f"language code {code!r} must look like 'pl' or 'en'")
            return
        if not isinstance(table, dict):
            self._problem(start, f"language.{code} must be a table")
            return
        before = len(self._found.problems)
        for key in table:
            if key not in _LANGUAGE_KEYS:
                line = self._source.key(key, span)
                self._problem(line, f"unknown key {key!r} (expected {_choices(_LANGUAGE_KEYS)})")
        default = table.get("default", False)
        if not isinstance(default, bool):
            self._problem(self._source.key("default", span), "default must be true or false")
        folded: set[str] = set()
        raw_words = table.get("words", [])
        for word in raw_words if isinstance(raw_words, list) else [raw_words]:
            split = words(word) if isinstance(word, str) else []
            if len(split) != 1:
                line = self._source.value(str(word), span, after_key="words")
                self._problem(line, f"{word!r} in language.{code}.words is not a single word")
            folded.update(split)
        requests = self._patterns(code, "requests", table, span)
        actions = self._patterns(code, "actions", table, span)
        if len(self._found.problems) == before:
            language = Language(
                code=code,
                words=frozenset(folded),
                default=bool(default),
                requests=requests,
                actions=actions,
            )
            self._found.languages.append(DeclaredLanguage(language, self._file, start))

    def _patterns(self, code: str, key: str, table: Any, span: Span) -> tuple[str, ...]:
        sources = table.get(key, [])
        if not isinstance(sources, list):
            self._problem(self._source.key(key, span), f"{key} must be a list")
            return ()
        for source in sources:
            try:
                parse(source, code)
            except PatternError as error:
                line = self._source.value(str(source), span, after_key=key)
                self._problem(line, f"bad {key} pattern: {error}")
        return tuple(source for source in sources if isinstance(source, str))


def read_document(file: str, text: str, document: Mapping[str, Any]) -> FileContents:
    """Validate one parsed file; ``text`` is its source, used only to find line numbers."""
    return _FileReader(file, text).read(document)
