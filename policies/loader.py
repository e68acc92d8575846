"""Read a folder of policy files and check that together they form one consistent policy.

Files are read in name order and may split intents and languages between them as an operator
likes. What one file cannot see is checked here: the same intent or language declared twice,
the same pattern claimed by two intents, a missing catch-all. Contradictions are load errors so
that no request is ever decided by which file happened to be read last.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.declared import DeclaredIntent, DeclaredLanguage, FileContents
from policies.model import Intent, IntentKind, Language, Problem
from policies.pattern import Signature, parse
from policies.schema import read_document

_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True, slots=True)
class Loaded:
    """A folder's intents and languages; usable only if ``problems`` is empty."""

    intents: tuple[Intent, ...]
    languages: tuple[Language, ...]
    problems: tuple[Problem, ...]


def _read_file(path: Path) -> FileContents:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return FileContents(file, problems=[Problem(file, 1, f"not UTF-8 text: {error.reason}")])
    except OSError as error:
        return FileContents(file, problems=[Problem(file, 0, f"cannot read: {error.strerror}")])
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        position = _TOML_POSITION.search(message)
        line = int(position.group(1)) if position else max(len(text.splitlines()), 1)
        reason = _TOML_POSITION.sub("", message).strip()
        return FileContents(file, problems=[Problem(file, line, f"TOML syntax: {reason}")])
    return read_document(file, text, document)


def _duplicate_names(contents: Sequence[FileContents]) -> Iterable[Problem]:
    first: dict[str, str] = {}
    for found in contents:
        for name, line in found.names:
            if name in first:
                yield Problem(
                    found.file,
                    line,
                    f"intent {name!r} is declared again (first at {first[name]}); "
                    "contradicting policies are never merged",
                )
            else:
                first[name] = f"{found.file}:{line}"


def _language_problems(
    languages: Sequence[DeclaredLanguage], intents: Sequence[DeclaredIntent], folder: str
) -> Iterable[Problem]:
    first: dict[str, DeclaredLanguage] = {}
    for declared in languages:
        code = declared.language.code
        if code in first:
            earlier = first[code]
            yield Problem(
                declared.file,
                declared.line,
                f"language {code!r} is declared again (first at {earlier.file}:{earlier.line})",
            )
        else:
            first[code] = declared
    defaults = [declared for declared in first.values() if declared.language.default]
    if not first:
        yield Problem(folder, 0, "no languages declared: add a [language.xx] table")
    elif not defaults:
        yield Problem(folder, 0, "no default language: set default = true on one language")
    for extra in defaults[1:]:
        yield Problem(
            extra.file,
            extra.line,
            f"a second default language (first: {defaults[0].language.code!r} at "
            f"{defaults[0].file}:{defaults[0].line})",
        )
    for intent in intents:
        for code, line in intent.language_lines.items():
            if code not in first:
                yield Problem(
                    intent.file,
                    line,
                    f"patterns for undeclared language {code!r}: add a [language.{code}] table",
                )


def _catch_all_problems(intents: Sequence[DeclaredIntent], folder: str) -> Iterable[Problem]:
    for kind in IntentKind:
        catch_alls = [d for d in intents if d.intent.catch_all and d.intent.kind is kind]
        if not catch_alls:
            yield Problem(
                folder,
                0,
                f"no catch-all {kind} intent (catch_all = true): a {kind} that matches nothing "
                "specific would have no policy",
            )
        for extra in catch_alls[1:]:
            first = catch_alls[0]
            yield Problem(
                extra.file,
                extra.line,
                f"a second catch-all {kind} intent (first: {first.intent.name!r} at "
                f"{first.file}:{first.line}); choosing between them would be a coin toss",
            )


def _shared_pattern_problems(intents: Sequence[DeclaredIntent]) -> Iterable[Problem]:
    owners: dict[Signature, str] = {}
    for declared in intents:
        own: set[Signature] = set()
        for (language, source), line in declared.pattern_lines.items():
            signature = parse(source, language).signature
            owner = owners.get(signature)
            if owner not in (None, declared.intent.name) and signature not in own:
                yield Problem(
                    declared.file,
                    line,
                    f"pattern {source!r} also recognises intent {owner!r}; "
                    "the two intents contradict each other",
                )
            owners.setdefault(signature, declared.intent.name)
            own.add(signature)


def read_folder(folder: Path) -> Loaded:
    """Everything a folder declares, or the problems that keep it from being used."""
    where = str(folder)
    if not folder.is_dir():
        return Loaded((), (), (Problem(where, 0, "not a folder"),))
    files = sorted(path for path in folder.glob("*.toml") if not path.name.startswith("."))
    if not files:
        return Loaded((), (), (Problem(where, 0, "no policy files (*.toml) in this folder"),))
    contents = [_read_file(path) for path in files]
    intents = [declared for found in contents for declared in found.intents]
    languages = [declared for found in contents for declared in found.languages]
    problems = [problem for found in contents for problem in found.problems]
    problems.extend(_duplicate_names(contents))
    problems.extend(_language_problems(languages, intents, where))
    if not any(found.names for found in contents):
        problems.append(Problem(where, 0, "no intents declared: add an [[intent]] table"))
    else:
        problems.extend(_catch_all_problems(intents, where))
    problems.extend(_shared_pattern_problems(intents))
    ordered = tuple(sorted(problems, key=lambda problem: (problem.file, problem.line)))
    return Loaded(
        intents=tuple(declared.intent for declared in intents),
        languages=tuple(declared.language for declared in languages),
        problems=ordered,
    )
