"""Reading account import files (contract section 5): every record checked before any is used,
and every bad one reported with its line, so an operator fixes the file in one go."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.codes.totp import is_valid_secret
from gateway.credentials import LOGIN_PATTERN
from gateway.identifiers import IdentifierKind, validate
from gateway.service_names import normalize_service_name

FIELDS = {"login", "name", "email", "services", "pesel", "nip", "regon", "totp_secret", "language"}
LANGUAGES = ("pl", "en")
EMAIL_PATTERN = re.compile(r"[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
SERVICE_PATTERN = re.compile(r"[^\s/\\<>\"']{1,253}")
MAX_SERVICES = 1000


@dataclass(frozen=True, slots=True)
class AccountRecord:
    login: str
    email: str
    name: str = ""
    services: tuple[str, ...] = ()
    pesel: str | None = None
    nip: str | None = None
    regon: str | None = None
    totp_secret: str | None = None
    language: str = "pl"

    def __repr__(self) -> str:
        return f"AccountRecord(login={self.login!r}, services={len(self.services)}, ...)"


@dataclass(frozen=True, slots=True)
class RecordProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(ValueError):
    def __init__(self, problems: list[RecordProblem]) -> None:
        super().__init__(f"{len(problems)} bad record(s)")
        self.problems = problems


def parse_accounts(text: str) -> list[AccountRecord]:
    """All records, or ImportRejected listing every problem; never a partial list."""
    records: list[AccountRecord] = []
    problems: list[RecordProblem] = []
    seen: dict[str, int] = {}
    try:
        for line, value in _json_values(text):
            try:
                record = account_record(value)
            except ValueError as exc:
                problems.append(RecordProblem(line, str(exc)))
                continue
            if record.login in seen:
                reason = f"login {record.login!r} already given on line {seen[record.login]}"
                problems.append(RecordProblem(line, reason))
                continue
            seen[record.login] = line
            records.append(record)
    except _Unreadable as exc:
        problems.append(RecordProblem(exc.line, exc.reason))
    if problems:
        raise ImportRejected(problems)
    return records


class _Unreadable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line, self.reason = line, reason


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_values(text: str) -> Iterator[tuple[int, Any]]:
    """Values of a JSON array, or of JSON Lines, each with the line it starts on."""
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if not text.strip():
        raise _Unreadable(1, "the file is empty")
    if text[start] != "[":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    raise _Unreadable(number, f"not valid JSON: {exc.args[0]}") from None
        return
    position = start + 1
    while True:
        position = _skip_space(text, position)
        if position < len(text) and text[position] == "]":
            if text[position + 1 :].strip():
                raise _Unreadable(_line_of(text, position + 1), "text after the closing ]")
            return
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError as exc:
            raise _Unreadable(_line_of(text, position), f"not valid JSON: {exc.args[0]}") from None
        yield _line_of(text, position), value
        position = _skip_space(text, end)
        if position < len(text) and text[position] == ",":
            position += 1
        elif position >= len(text) or text[position] != "]":
            raise _Unreadable(_line_of(text, position), "expected , or ] between records")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def account_record(value: Any) -> AccountRecord:
    if not isinstance(value, dict):
        raise ValueError("a record must be a JSON object")
    unknown = sorted(set(value) - FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    login = _text(value, "login", required=True)
    if not LOGIN_PATTERN.fullmatch(login):
        raise ValueError(f"login {login!r} is not a valid panel login")
    email = _text(value, "email", required=True)
    if len(email) > 320 or not EMAIL_PATTERN.fullmatch(email):
        raise ValueError(f"email of {login!r} is not a valid address")
    language = _text(value, "language") or "pl"
    if language not in LANGUAGES:
        raise ValueError(f"language of {login!r} must be pl or en")
    secret = _text(value, "totp_secret") or None
    if secret is not None and not is_valid_secret(secret):
        raise ValueError(f"totp_secret of {login!r} is not base32 of at least 16 characters")
    return AccountRecord(
        login=login,
        email=email,
        name=_text(value, "name")[:200],
        services=_services(value, login),
        pesel=_identifier(value, IdentifierKind.PESEL, login),
        nip=_identifier(value, IdentifierKind.NIP, login),
        regon=_identifier(value, IdentifierKind.REGON, login),
        totp_secret=secret,
        language=language,
    )


def _text(value: dict[str, Any], key: str, required: bool = False) -> str:
    found = value.get(key)
    if found is None:
        if required:
            raise ValueError(f"field {key!r} is missing")
        return ""
    if not isinstance(found, str) or any(ch in found for ch in "\r\n\x00"):
        raise ValueError(f"field {key!r} must be a single-line string")
    if required and not found.strip():
        raise ValueError(f"field {key!r} is empty")
    return found.strip()


def _services(value: dict[str, Any], login: str) -> tuple[str, ...]:
    services = value.get("services") or []
    if not isinstance(services, list) or len(services) > MAX_SERVICES:
        raise ValueError(f"services of {login!r} must be a list of at most {MAX_SERVICES} names")
    names: list[str] = []
    for service in services:
        if not isinstance(service, str) or not SERVICE_PATTERN.fullmatch(service.strip()):
            raise ValueError(f"service {service!r} of {login!r} is not a valid service name")
        name = normalize_service_name(service)
        if name not in names:
            names.append(name)
    return tuple(names)


def _identifier(value: dict[str, Any], kind: IdentifierKind, login: str) -> str | None:
    raw = value.get(kind.value)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or validate(kind, raw) is None:
        # The number itself is never echoed: error output ends up in logs and tickets.
        raise ValueError(f"{kind.value} of {login!r} fails its checksum or format")
    return validate(kind, raw)
