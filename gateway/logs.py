"""The process's log: one event per line on stderr, as JSON for a log store or as text for a
human at a terminal.

One line is one event whatever a client typed: every value is escaped (JSON escapes CR, LF and
every other control character, and ASCII-only output escapes U+2028 and friends too), so text
that reaches a log line can never begin a line of its own and forge an event.

Exceptions are logged by type and stack frames, never by message: a frame is code, while a
message may carry client data (a database driver echoes the bound parameters, an SMTP relay the
recipient's address, asyncio the repr of the exception). Our own call sites log ids, counts and
exception types only; other libraries' messages, which we do not review, are cut to their first
line and redacted, and their loggers are held at WARNING whatever `log.level` says (at DEBUG,
SQLAlchemy would log every statement with its parameters, engine.io every packet).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from types import TracebackType
from typing import Any

from gateway.config import LogSettings, Settings
from gateway.redaction import redact

FIELDS = "fields"
OUR_PACKAGES = ("gateway", "chat", "mail", "policies")
LIBRARY_FLOOR = logging.WARNING
# Loggers held higher still. aiosmtpd's is "mail.log", unrelated to our `mail` package.
QUIETER = {
    "aiohttp.access": logging.WARNING,  # every request's path and peer
    "alembic": logging.WARNING,
    "mail.log": logging.WARNING,  # aiosmtpd: every SMTP command, senders and recipients included
    "socketio.server": logging.ERROR,  # a refused handshake is routine, not a warning
    "engineio.server": logging.ERROR,
}
MAX_FRAMES = 30


def fields(**values: object) -> dict[str, Any]:
    """Structured fields of one event, each its own key in the line:
    `log.warning("outbox delivery failed", extra=fields(item=7, error="ConnectError"))`."""
    return {FIELDS: values}


def configure_logging(settings: Settings) -> None:
    """Replace whatever handlers the root logger has with the one writer of this process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelNamesMapping()[settings.log.level.upper()]
    root.setLevel(max(level, LIBRARY_FLOOR))
    for package in OUR_PACKAGES:
        logging.getLogger(package).setLevel(level)
    for name, floor in QUIETER.items():
        quieted = logging.getLogger(name)
        quieted.setLevel(max(floor, level))
        # python-socketio and python-engineio add a handler of their own (plain text, to
        # stderr) to a logger whose level is unset; a level set here first stops that, and
        # one added already goes.
        for old in list(quieted.handlers):
            quieted.removeHandler(old)
        quieted.propagate = True
    logging.captureWarnings(True)


def formatter(settings: LogSettings) -> logging.Formatter:
    return TextFormatter() if settings.format == "text" else JsonFormatter()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, the event's fields, exc_type…"""

    def format(self, record: logging.LogRecord) -> str:
        # ensure_ascii (the default): no character outside ASCII, so no line separator either.
        return json.dumps(event_of(record), default=str)


class TextFormatter(logging.Formatter):
    """`ts level logger event key=value…` for a terminal, with the same escaping guarantee."""

    def format(self, record: logging.LogRecord) -> str:
        event = event_of(record)
        head = [str(event.pop(key)) for key in ("ts", "level", "logger")]
        text = _escape(str(event.pop("event")))
        rest = [f"{_escape(key)}={_text_value(value)}" for key, value in event.items()]
        return " ".join([*head, text, *rest])


def event_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record as the flat mapping both formats write."""
    ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    event: dict[str, Any] = {
        "ts": ts.replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": _message(record),
    }
    given = getattr(record, FIELDS, None)
    if isinstance(given, Mapping):
        for key, value in given.items():
            event[f"field_{key}" if key in event else str(key)] = value
    if record.exc_info and record.exc_info[1] is not None:
        event.update(exception_fields(record.exc_info[1]))
    return event


def exception_fields(exc: BaseException) -> dict[str, Any]:
    """Type, cause and frames: enough to find the fault in the code, and no data."""
    found: dict[str, Any] = {"exc_type": _type_name(exc)}
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None:
        found["exc_cause"] = _type_name(cause)
    found["stack"] = _frames(exc.__traceback__)
    return found


def is_ours(name: str) -> bool:
    if name == "mail.log" or name.startswith("mail.log."):
        return False
    return any(name == package or name.startswith(f"{package}.") for package in OUR_PACKAGES)


def _message(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep the format, drop them
        message = str(record.msg)
    if is_ours(record.name):
        return message
    return redact(message.split("\n", 1)[0])


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _frames(tb: TracebackType | None) -> list[str]:
    # lookup_lines=False: no source file is read while logging
    summary = traceback.StackSummary.extract(traceback.walk_tb(tb), lookup_lines=False)
    frames = summary[-MAX_FRAMES:]
    return [f"{_short(frame.filename)}:{frame.lineno} {frame.name}" for frame in frames]


def _short(filename: str) -> str:
    parts = PurePath(filename).parts
    return "/".join(parts[-2:])


def _escape(text: str) -> str:
    """Non-printable characters (CR, LF, NEL, U+2028, …) as escapes; the rest as it is."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def _text_value(value: object) -> str:
    if isinstance(value, str) and value and not any(c in value for c in ' ="'):
        return _escape(value)
    return _escape(json.dumps(value, ensure_ascii=False, default=str))
