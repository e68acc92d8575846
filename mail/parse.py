"""Reading an accepted mail: the stdlib `email` package, bounded and defensive. Whatever
arrives, `parse_mail` returns a result: mail it cannot read well is marked `needs_human` (staff
look at the original) instead of failing, because an accepted mail must never be dropped.
`check_is_mail` is the one strict gate, run before the 250: data that is not a mail at all is
refused there, while the sender can still be told.

It runs on the event loop for all but large mail, so every step is bounded in time as well as
in size: the number of parts, the length of a field before it is parsed, the text handed on."""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import errors, policy
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import Compat32, EmailPolicy, Policy
from email.utils import getaddresses
from typing import Any

from mail.html_text import html_to_text
from mail.quoting import split_quoted

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1024 * 1024  # a header section beyond this is not a mail but an attack
MAX_BODY_CHARS = 64 * 1024  # the client's own words
# What is read of the text parts: each up to PART_CHARS, all together up to MAX_READ_CHARS.
# Staff are shown no more than that (the staff copy cuts a part where reading stopped).
PART_CHARS = 64 * 1024
MAX_READ_CHARS = 128 * 1024
# `shown` is never cut (what staff are shown is classified whole), so it is bounded by its
# parts: the text read (the main part's quotes and HTML quotes twice at most, 64 Ki each, and
# the other parts' 128 Ki), and per part a name, a type and an attached mail's subject.
MAX_FILENAME_CHARS = 255
MAX_TYPE_CHARS = 100
MAX_PARTS = 200
MAX_DEPTH = 20
MAX_REFERENCES = 50
MAX_ID_LENGTH = 255
MAX_SUBJECT_CHARS = 1000
# The email package's header parsing is superlinear on hostile values (a 250 KB Content-Type
# took a minute), so a field is cut to this before it is parsed; real ones are far shorter, and
# References is read raw (its tail: the nearest ids) instead.
MAX_FIELD_CHARS = 2048
MAX_MIME_PARAMETERS = 30  # compat32's parameter splitting is quadratic in their number
MAX_REFERENCES_CHARS = 20000
_FEED_CHUNK = 8192
# Text codecs that are no charset a mail can be written in.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"})

_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]{1,200}[ \t]*:")
_FIRST_LINE = re.compile(rb"[\r\n]*([^\n]*)")  # without copying a 25 MB message to find it
_FROM_FIELD = re.compile(rb"^from[ \t]*:", re.IGNORECASE | re.MULTILINE)
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_UNREADABLE = (
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.NoBoundaryInMultipartDefect,
    errors.MissingHeaderBodySeparatorDefect,
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64PaddingDefect,
    errors.InvalidBase64LengthDefect,
    errors.MisplacedEnvelopeHeaderDefect,
)
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "Mailing-List")
_AUTOMATIC_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_KEYWORD = re.compile(r"[a-z0-9_-]*")
_TOKEN_END = re.compile(r"[\s(]")  # compat32 leaves a comment on a value: "text/plain (x)"
_ADDR_SPEC = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+")
# What a database text column cannot hold: NUL and lone surrogates (from codecs such as utf-7).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _BoundedPolicy(EmailPolicy):
    """`policy.default`, for the fields we read (From, Subject…): a value is cut to
    MAX_FIELD_CHARS and its undeclared 8-bit bytes (RFC 6532 UTF-8, or legacy Windows-1250) are
    decoded before the structured parsing."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        return super().header_fetch_parse(name, _readable_header(value[:MAX_FIELD_CHARS]))


class _BoundedCompat32(Compat32):
    """compat32, for the MIME structure: the parser and the part walk read Content-Type and
    friends several times per part, and `policy.default` parses each read anew (~25 ms for a
    hostile 2 KB value, times 200 parts). compat32 only splits strings; the value is cut, and
    cut after MAX_MIME_PARAMETERS parameters, so that splitting stays cheap."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        value = value[:MAX_FIELD_CHARS]
        if value.count(";") > MAX_MIME_PARAMETERS:
            value = ";".join(value.split(";", MAX_MIME_PARAMETERS + 1)[: MAX_MIME_PARAMETERS + 1])
        return super().header_fetch_parse(name, _readable_header(value))


_POLICY = _BoundedPolicy()
_TREE_POLICY = _BoundedCompat32()


class NotMail(ValueError):
    """The data is not an e-mail message at all (refused with a 5xx at SMTP time)."""


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    from_address: str | None = None
    from_domain: str = ""
    subject: str = ""
    body: str = ""  # the client's own words: quotes and signature removed
    # Everything else a mail client shows, in labelled sections: the subject, quoted and signed
    # text, the other text parts, attachments' names and text. Classified with the body; no
    # credentials are read from it.
    shown: str = ""
    language_hint: str | None = None
    auto_submitted: bool = False
    bulk: bool = False
    is_bounce: bool = False
    needs_human: bool = False
    defects: tuple[str, ...] = field(default=())


def check_is_mail(raw: bytes) -> None:
    """Refuse data that is not a mail: no header section, a header section too large, or no
    From field. Everything else is accepted and read as well as it can be."""
    if not raw or raw.isspace():
        raise NotMail("empty message")
    found = _FIRST_LINE.match(raw)
    first_line = found[1] if found else b""
    if not _FIELD_NAME.match(first_line) and not first_line.startswith(b"From "):
        raise NotMail("no header section")
    end = header_end(raw)
    if end > MAX_HEADER_BYTES:
        raise NotMail("header section too large")
    # A scan, not the email parser: this runs for every message before its 250.
    if _FROM_FIELD.search(raw, 0, end) is None:
        raise NotMail("no From field")


def parse_mail(raw: bytes) -> ParsedMail:
    try:
        message, complete = read_tree(raw)
        return _parse(message, complete)
    except Exception as exc:  # a parser bug must not lose the mail: read the headers alone
        failure = type(exc).__name__
        log.warning("mail could not be parsed whole: %s", failure)
    try:
        # compat32 only splits the fields: it parses no value while splitting.
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[: header_end(raw)])
        return _headers_only(headers, failure)
    except Exception as exc:
        log.warning("mail headers could not be parsed: %s", type(exc).__name__)
        return ParsedMail(needs_human=True, defects=(type(exc).__name__,))


def thread_ids(mail: ParsedMail) -> tuple[str, ...]:
    """The Message-IDs this mail answers, nearest first."""
    seen: dict[str, None] = dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)])
    return tuple(seen)[:MAX_REFERENCES]


def read_tree(raw: bytes) -> tuple[Message, bool]:
    """The MIME tree, fed in chunks and given up on once it holds more than MAX_PARTS parts
    (the parser spends ~0.1 ms on each, and a 25 MB mail can have millions); and whether it
    was read whole."""
    created = 0

    def factory(policy: Policy = _TREE_POLICY) -> Message:
        nonlocal created
        created += 1
        return Message(policy=policy)

    parser = BytesFeedParser(factory, policy=_TREE_POLICY)
    created = 0  # the parser calls the factory once to try it
    for start in range(0, len(raw), _FEED_CHUNK):
        if created > MAX_PARTS:
            return parser.close(), False
        parser.feed(raw[start : start + _FEED_CHUNK])
    return parser.close(), created <= MAX_PARTS


def _parse(message: Message, complete: bool) -> ParsedMail:
    defects: list[str] = []
    reading = _read_parts(message, defects)
    if not complete:
        defects.insert(0, "too many parts")
    fields = _header_fields(message, defects)
    own, quoted = split_quoted(reading.main[: MAX_BODY_CHARS * 4])
    sections = [f"Subject: {fields['subject']}"] if fields["subject"] else []
    sections += [f"[quoted or signed]\n{quoted}"] if quoted else []
    sections += reading.sections
    return ParsedMail(
        **fields,
        body=_storable(own[:MAX_BODY_CHARS]),
        shown=_storable("\n\n".join(sections)),
        is_bounce=_is_bounce(message),
        needs_human=not reading.readable or not complete or fields["from_address"] is None,
        defects=tuple(defects[:20]),
    )


def _headers_only(headers: Message, failure: str) -> ParsedMail:
    defects = [failure]
    return ParsedMail(**_header_fields(headers, defects), needs_human=True, defects=tuple(defects))


def _header_fields(message: Message, defects: list[str]) -> dict[str, Any]:
    from_address = _from_address(_header(message, "From", defects))
    auto_submitted = _keyword(_header(message, "Auto-Submitted", defects))
    precedence = _keyword(_header(message, "Precedence", defects))
    language = _header(message, "Content-Language", defects).strip().lower()[:2]
    subject = " ".join(_header(message, "Subject", defects).split())[:MAX_SUBJECT_CHARS]
    return {
        "message_id": next(iter(_ids(_header(message, "Message-ID", defects))), None),
        "in_reply_to": _ids(_header(message, "In-Reply-To", defects)),
        "references": _ids(_references(message))[-MAX_REFERENCES:],
        "from_address": from_address,
        "from_domain": from_address.rpartition("@")[2] if from_address else "",
        "subject": _storable(subject),
        "language_hint": language if language in ("pl", "en") else None,
        "auto_submitted": auto_submitted not in ("", "no") or _has_any(message, _AUTOMATIC_HEADERS),
        "bulk": precedence in ("bulk", "junk", "list") or _has_any(message, _LIST_HEADERS),
    }


def _references(message: Message) -> str:
    """Read raw and from its end: the nearest ids, without parsing a field that can be long."""
    return _readable_header((_raw_header(message, "References") or "")[-MAX_REFERENCES_CHARS:])


def _keyword(value: str) -> str:
    """The leading keyword of a field such as `Auto-Submitted: no (a comment)`."""
    found = _KEYWORD.match(value.strip().lower())
    return found.group() if found else ""


def _header(message: Message, name: str, defects: list[str]) -> str:
    """One header's value as text, decoded by the bounded `policy.default` whatever policy the
    message was split with; a value the header classes choke on is read raw."""
    raw = _raw_header(message, name)
    if raw is None:
        return ""
    try:
        return str(_POLICY.header_fetch_parse(name, raw))[:MAX_FIELD_CHARS]
    except Exception as exc:  # RecursionError on deeply nested comments, for one
        defects.append(f"{name}: {type(exc).__name__}")
        return _readable_header(raw[:MAX_FIELD_CHARS])


def _raw_header(message: Message, name: str) -> str | None:
    """The first such field's value as it came, unparsed."""
    wanted = name.lower()
    return next((str(raw) for key, raw in message.raw_items() if key.lower() == wanted), None)


def _readable_header(value: str) -> str:
    """The parser keeps undeclared 8-bit header bytes as surrogate escapes, which the header
    classes turn into U+FFFD; read them as UTF-8 (RFC 6532), else as Windows-1250."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1250", errors="replace")


def _storable(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def _from_address(value: str) -> str | None:
    try:
        addresses = [address for _, address in getaddresses([value]) if "@" in address]
    except Exception:  # RecursionError on nested comments: parseaddr would recurse the same
        found = _ADDR_SPEC.search(value)
        addresses = [found.group()] if found else []
    address = _storable(addresses[0].strip().lower()) if addresses else ""
    return address if 3 <= len(address) <= 320 and "@" in address else None


def _ids(value: str) -> tuple[str, ...]:
    return tuple(
        _storable(found)
        for found in _MESSAGE_ID.findall(value[:MAX_REFERENCES_CHARS])
        if len(found) <= MAX_ID_LENGTH
    )


def _is_bounce(message: Message) -> bool:
    try:
        content_type = message.get_content_type()
        report = str(message.get_param("report-type", "") or "").lower()
    except Exception:
        return False
    return (
        content_type == "multipart/report"
        and report in ("delivery-status", "disposition-notification")
    ) or _has_any(message, ("X-Failed-Recipients",))


def _has_any(message: Message, names: tuple[str, ...]) -> bool:
    """Whether any of these fields is present, without parsing their values."""
    wanted = {name.lower() for name in names}
    return any(key.lower() in wanted for key in message)


@dataclass(frozen=True, slots=True)
class Leaf:
    """A part with content, as a mail client would show it: "text" (read, `text` holds what of
    it was read: the whole part, or the start of it up to the reading budget), or "unread" (an
    image, a PDF…: nothing the gateway can classify)."""

    part: Message
    kind: str
    content_type: str
    filename: str
    attachment: bool
    text: str = ""
    cut: bool = False  # the part is longer than what was read of it
    decoded: bool = True  # in its declared charset (else read as UTF-8 or Windows-1250)


@dataclass(slots=True)
class _Reading:
    main: str = ""  # the first plain part, else the first HTML part made plain
    sections: list[str] = field(default_factory=list)
    readable: bool = True


def leaves(message: Message, defects: list[str] | None = None) -> Iterator[Leaf]:
    """Every part with content, depth first, each text part decoded and read up to the budget
    (PART_CHARS each, MAX_READ_CHARS in all): the staff copy walks the same leaves with the
    same budget, so staff are shown exactly what was classified."""
    defects = [] if defects is None else defects
    remaining = MAX_READ_CHARS
    for part, depth in _walk(message):
        if depth > MAX_DEPTH:
            defects.append("nested too deep")
            return
        if part.is_multipart():
            continue
        content_type = _content_type(part)
        filename = part_filename(part)
        attachment = _is_attachment(part) or bool(filename)
        if not content_type.startswith("text/") or remaining <= 0:
            yield Leaf(part, "unread", content_type, filename, attachment)
            continue
        text, decoded = _decode(part, defects)
        allowed = min(PART_CHARS, remaining)
        remaining -= min(len(text), allowed)
        yield Leaf(
            part,
            "text",
            content_type,
            filename,
            attachment,
            text[:allowed],
            cut=len(text) > allowed,
            decoded=decoded,
        )


def _read_parts(message: Message, defects: list[str]) -> _Reading:
    """What a mail client would show: the main text (where the client's own words are), every
    other text part (plain, HTML made plain, any charset, attached or inline), and the names
    of attachments; and whether the mail was readable enough to act on."""
    reading = _Reading()
    seen: set[str] = set()
    for part, _ in _walk(message):
        defects.extend(type(defect).__name__ for defect in part.defects[:5])
        if any(isinstance(defect, _UNREADABLE) for defect in part.defects):
            reading.readable = False
        if part is not message and _raw_header(part, "Subject") is not None:
            # An attached mail (message/rfc822): a mail client shows its subject too.
            subject = _header(part, "Subject", defects)[:MAX_SUBJECT_CHARS]
            reading.sections.append(f"[attached mail] Subject: {subject}")
    texts: list[Leaf] = []
    for leaf in leaves(message, defects):
        if leaf.filename:
            reading.sections.append(f"[attachment: {leaf.filename} ({leaf.content_type})]")
        if leaf.kind == "unread":
            if not leaf.filename:  # its type is shown to staff in the line that replaces it
                reading.sections.append(f"[not read: {leaf.content_type}]")
            continue
        texts.append(leaf)
        reading.readable = reading.readable and leaf.decoded
    if "nested too deep" in defects:
        reading.readable = False
    plain = [t for t in texts if t.content_type == "text/plain" and not t.attachment]
    html = [t for t in texts if t.content_type == "text/html" and not t.attachment]
    main = (plain or html)[0] if plain or html else None
    if main is None:
        reading.readable = False
    for leaf in texts:
        quotes = leaf is not main
        text = (
            html_to_text(leaf.text, quotes=quotes)
            if leaf.content_type == "text/html"
            else leaf.text
        )
        if leaf is main:
            reading.main = text
            if leaf.content_type == "text/html":
                # Quoted blocks are dropped from the client's words, and shown apart.
                quoted = html_to_text(leaf.text, quotes=True)
                if _same_words(quoted) != _same_words(text):
                    reading.sections.append(f"[quoted in the HTML]\n{quoted}")
            seen.add(_same_words(text))
            continue
        words = _same_words(text)
        if not words or words in seen:  # the HTML twin of the plain part, say
            continue
        seen.add(words)
        label = leaf.filename or leaf.content_type
        reading.sections.append(f"[{label}]\n{text}")
    return reading


def _same_words(text: str) -> str:
    return " ".join(text.split())


def _content_type(part: Message) -> str:
    try:
        return _TOKEN_END.split(part.get_content_type(), maxsplit=1)[0][:MAX_TYPE_CHARS]
    except Exception:
        return "application/octet-stream"


def part_filename(part: Message) -> str:
    """The attachment's name as a mail client shows it: RFC 2231 or RFC 2047 decoded."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        return ""
    if isinstance(name, tuple):
        name = name[2]
    name = str(name)[:MAX_FILENAME_CHARS]
    if "=?" in name:
        with contextlib.suppress(Exception):  # a malformed encoded word: shown as it is
            name = str(make_header(decode_header(name)))
    return _storable(" ".join(_readable_header(name).split()))


def _walk(message: Message) -> Iterator[tuple[Message, int]]:
    """The parts, depth first, without recursion and at most MAX_PARTS of them."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part, depth
        if part.is_multipart():
            payload = part.get_payload()
            children = payload[:MAX_PARTS] if isinstance(payload, list) else []
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
            )


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:
        return False


def _decode(part: Message, defects: list[str]) -> tuple[str, bool]:
    """The part's text in its declared charset; an unknown or lying charset falls back to
    UTF-8, then Windows-1250 (the usual Polish legacy one), and marks the mail for a human."""
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"payload: {type(exc).__name__}")
        return "", False
    if not isinstance(payload, bytes):
        return "", False
    # Decoding reports its defects (broken base64) on the part only now, after the walk.
    broken = [defect for defect in part.defects if isinstance(defect, _UNREADABLE)]
    defects.extend(dict.fromkeys(type(defect).__name__ for defect in broken))
    payload = payload[: MAX_BODY_CHARS * 8]
    try:
        declared = part.get_content_charset()
    except Exception as exc:
        defects.append(f"charset: {type(exc).__name__}")
        return _fallback(payload), False
    if declared is not None:
        declared = _TOKEN_END.split(declared, maxsplit=1)[0]
    if declared is None:
        if payload.isascii():
            return payload.decode("ascii"), not broken
        return _fallback(payload), not broken
    try:
        codec = codecs.lookup(declared)
        if not getattr(codec, "_is_text_encoding", True) or codec.name in _NOT_CHARSETS:
            raise LookupError(declared)
        return payload.decode(codec.name, errors="replace"), not broken
    except (LookupError, UnicodeError, ValueError, TypeError):
        defects.append("unknown charset")
        return _fallback(payload), False


def _fallback(payload: bytes) -> str:
    """UTF-8 if it is that (a multi-byte character cut off by the size limit at the end is
    dropped), else Windows-1250."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(payload, final=False)
    except UnicodeDecodeError:
        return payload.decode("cp1250", errors="replace")


def header_end(raw: bytes) -> int:
    """Where the header section ends (the first empty line), or the whole length. The bare-LF
    search stops there too: on a CRLF mail it would otherwise scan the whole body."""
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf if crlf >= 0 else len(raw))
    return lf if lf >= 0 else (crlf if crlf >= 0 else len(raw))
