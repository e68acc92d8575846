"""Reading accepted mail: what the pipeline gets out of real-world and hostile messages. The
parser must never fail on accepted mail (what it cannot read goes to a human), and it must stay
fast whatever arrives, because it runs in the gateway's process."""

from __future__ import annotations

import base64
import quopri
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mail.html_text import html_to_text
from mail.parse import (
    MAX_BODY_CHARS,
    MAX_HEADER_BYTES,
    MAX_REFERENCES,
    MAX_SUBJECT_CHARS,
    NotMail,
    ParsedMail,
    check_is_mail,
    parse_mail,
    thread_ids,
)
from mail.quoting import strip_quoted

POLISH = "zmiana właściciela domeny"
CLIENT_LINES = "Login: jan.kowalski\nKod: 123456"
# A budget no correct run comes near (they take milliseconds) and the old quadratic code
# could not keep (it took from tens of seconds to minutes on the same input).
FAST_SECONDS = 5.0


def mail(*fields: str, body: bytes | str = "Hello\r\n", sender: str | None = None) -> bytes:
    """A message with the usual fields plus `fields`, CRLF line endings."""
    head = [
        f"From: {sender or 'Jan Kowalski <Jan.Kowalski@Example.COM>'}",
        "To: support@example.net",
        "Subject: Domain transfer",
        "Message-ID: <first@example.com>",
        "Date: Mon, 05 Jan 2026 10:00:00 +0100",
        *fields,
    ]
    data = body.encode() if isinstance(body, str) else body
    return "\r\n".join(head).encode() + b"\r\n\r\n" + data


def multipart(
    subtype: str, *parts: bytes, boundary: str = "b1", fields: tuple[str, ...] = ()
) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return mail(
        "MIME-Version: 1.0",
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"',
        *fields,
        body=body + b"--" + boundary.encode() + b"--\r\n",
    )


def part(content_type: str, payload: bytes | str, *fields: str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    head = "\r\n".join([f"Content-Type: {content_type}", *fields])
    return head.encode() + b"\r\n\r\n" + data


@contextmanager
def fast() -> Iterator[None]:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < FAST_SECONDS, f"took {elapsed:.1f} s"


def assert_storable(parsed: ParsedMail) -> None:
    """Every text the pipeline stores must go into a database text column: valid UTF-8, no NUL."""
    texts = [parsed.body, parsed.subject, parsed.from_address or "", parsed.message_id or ""]
    for text in [*texts, *parsed.in_reply_to, *parsed.references]:
        text.encode("utf-8")
        assert "\x00" not in text


# -- Plain text, alternatives, HTML ------------------------------------------------------------


def test_plain_text_mail() -> None:
    parsed = parse_mail(
        mail("Content-Type: text/plain; charset=us-ascii", body="Hello,\r\nplease help.\r\n")
    )
    assert parsed.body == "Hello,\nplease help."
    assert parsed.subject == "Domain transfer"
    assert parsed.from_address == "jan.kowalski@example.com"
    assert parsed.from_domain == "example.com"
    assert parsed.message_id == "<first@example.com>"
    assert not parsed.needs_human
    assert not (parsed.auto_submitted or parsed.bulk or parsed.is_bounce)
    assert parsed.defects == ()


def test_mail_without_mime_fields_is_plain_text() -> None:
    parsed = parse_mail(mail(body="Just text.\r\n"))
    assert parsed.body == "Just text."
    assert not parsed.needs_human


def test_alternative_picks_the_plain_part_even_after_html() -> None:
    raw = multipart(
        "alternative",
        part("text/html; charset=utf-8", "<p>the <b>HTML</b> version</p>"),
        part("text/plain; charset=utf-8", "the plain version"),
    )
    parsed = parse_mail(raw)
    assert parsed.body == "the plain version"
    assert not parsed.needs_human


def test_mixed_skips_attachments() -> None:
    raw = multipart(
        "mixed",
        part("text/plain", "an attached note", 'Content-Disposition: attachment; filename="a.txt"'),
        part("text/plain; charset=utf-8", "what the client wrote"),
    )
    assert parse_mail(raw).body == "what the client wrote"


def test_a_part_without_fields_is_plain_text() -> None:
    """A body part with no header lines is text/plain (RFC 2046); an empty header section made
    the part falsy, and it was skipped."""
    raw = multipart("mixed", b"\r\nthe client's words")
    parsed = parse_mail(raw)
    assert parsed.body == "the client's words"
    assert not parsed.needs_human


def test_html_only_is_made_plain() -> None:
    html = (
        "<html><head><title>Title text</title><style>p { color: red }</style></head><body>"
        "<p>Hello &amp; welcome,&nbsp;please &lt;help&gt; &#x17C;&oacute;&#322;w</p>"
        '<img src="x" onerror="alert(\'pwned\')">'
        "<script>document.write('script text')</script>"
        "<table><tr><td>Login:</td><td>jan.kowalski</td></tr></table>"
        "<!-- a comment -->"
        "</body></html>"
    )
    parsed = parse_mail(mail("Content-Type: text/html; charset=utf-8", body=html))
    assert parsed.body == "Hello & welcome, please <help> żółw\n\nLogin: jan.kowalski"
    for hidden in ("Title text", "color", "alert", "pwned", "onerror", "script text", "comment"):
        assert hidden not in parsed.body
    assert not parsed.needs_human


def test_html_quoted_block_is_dropped() -> None:
    html = (
        "<div>Login: jan.kowalski<br>Kod: 123456</div>"
        '<div class="gmail_quote"><div>On Mon, 5 Jan 2026 at 10:00, Support wrote:</div>'
        "<blockquote>Please send Login: your-panel-login</blockquote></div>"
    )
    parsed = parse_mail(mail("Content-Type: text/html; charset=utf-8", body=html))
    assert parsed.body == CLIENT_LINES


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img alt="x" title="a > b">after', "after"),  # ">" inside a quoted value
        ("<p>one<p>two", "one\ntwo"),
        ("a < b and c > d", "a < b and c > d"),
        ("<head><meta charset=utf-8><body>no closing head", "no closing head"),
        ("text<!-- unterminated comment", "text"),
        ('text<a href="unterminated>more', "text"),
        ("<SCRIPT>x</ScRiPt>after", "after"),
        ("<script>if (a</b) {}</script>after", "after"),
        ("<blockquote><blockquote>q</blockquote>still quoted</blockquote>mine", "mine"),
        ("</>x</ y>z", "xz"),
        ("<![CDATA[hidden]]>shown", "shown"),  # a bogus comment in HTML
    ],
)
def test_html_edge_cases(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "<a " * 100_000,  # every "<" starts a tag that never ends
        "<!--" * 100_000,
        "<![CDATA[" * 50_000,
        '<a b="' * 50_000,
        "<" * 500_000,
        "<div>" * 100_000,
        "&#" * 200_000,
        "<blockquote>" * 40_000 + "</blockquote>" * 40_000,
        "<head>" + "<blockquote>" * 40_000 + "</head>" * 40_000,
    ],
    ids=[
        "open-tags",
        "comments",
        "cdata",
        "open-quotes",
        "lone-lt",
        "blocks",
        "charrefs",
        "nested-quotes",
        "unopened-ends",
    ],  # fmt: skip
)
def test_hostile_html_takes_linear_time(html: str) -> None:
    """html.parser rescanned the rest of the document at each unterminated construct: 90 KB of
    `<a ` took over a minute."""
    raw = mail("Content-Type: text/html; charset=utf-8", body=html)
    with fast():
        parsed = parse_mail(raw)
    assert len(parsed.body) <= MAX_BODY_CHARS


def test_html_output_is_bounded() -> None:
    assert len(html_to_text("<p>word</p>" * 100_000, limit=1000)) <= 1000


# -- Charsets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["iso-8859-2", "windows-1250", "utf-8"])
@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable", "base64"])
def test_declared_charsets(charset: str, encoding: str) -> None:
    data = POLISH.encode(charset)
    payload = {
        "8bit": data,
        "quoted-printable": quopri.encodestring(data),
        "base64": base64.encodebytes(data),
    }[encoding]
    raw = mail(
        f"Content-Type: text/plain; charset={charset}",
        f"Content-Transfer-Encoding: {encoding}",
        body=payload,
    )
    parsed = parse_mail(raw)
    assert parsed.body == POLISH
    assert not parsed.needs_human


@pytest.mark.parametrize(
    "field",
    [
        "Content-Type: text/plain; charset=iso-8859-2 (Polish)",
        "Content-Type: TEXT/PLAIN; CHARSET=ISO-8859-2",
        'Content-Type: text/plain;\r\n\tcharset = "iso-8859-2"; format=flowed',
        "Content-Type: text/plain (the body); charset=iso-8859-2",
    ],
)
def test_content_type_spellings(field: str) -> None:
    parsed = parse_mail(mail(field, body=POLISH.encode("iso-8859-2")))
    assert parsed.body == POLISH and not parsed.needs_human


def test_charset_in_rfc2231_form() -> None:
    raw = mail(
        "Content-Type: text/plain; charset*=us-ascii''iso-8859-2", body=POLISH.encode("iso-8859-2")
    )
    assert parse_mail(raw).body == POLISH


@pytest.mark.parametrize("charset", ["utf-8", "cp1250"])
def test_undeclared_8bit_text_is_read(charset: str) -> None:
    """No charset declared: UTF-8 if the bytes are UTF-8, else Windows-1250 (Polish legacy)."""
    parsed = parse_mail(mail("Content-Type: text/plain", body=POLISH.encode(charset)))
    assert parsed.body == POLISH
    assert not parsed.needs_human


def test_utf8_cut_by_the_size_limit_is_still_utf8() -> None:
    """The payload is cut at a byte limit; a character split there must not turn the whole
    text into Windows-1250 mojibake."""
    text = "a" + "ż" * (MAX_BODY_CHARS * 8)  # two bytes each after one: cut inside one
    parsed = parse_mail(mail("Content-Type: text/plain", body=text.encode()))
    assert parsed.body == text[:MAX_BODY_CHARS]


@pytest.mark.parametrize(
    "charset", ["x-unknown", "rot13", "base64", "unicode-escape", "idna", '""']
)
def test_unknown_charset_needs_a_human_but_is_read(charset: str) -> None:
    raw = mail(f"Content-Type: text/plain; charset={charset}", body=POLISH.encode())
    parsed = parse_mail(raw)
    assert parsed.needs_human
    assert parsed.body == POLISH


def test_lying_charset_is_read_with_replacements() -> None:
    parsed = parse_mail(mail("Content-Type: text/plain; charset=us-ascii", body=POLISH.encode()))
    assert parsed.body.startswith("zmiana w")
    assert_storable(parsed)


def test_text_that_cannot_be_stored_is_cleaned() -> None:
    """NUL (PostgreSQL text refuses it) and lone surrogates (UTF-7 `+2AA-` decodes to one; no
    UTF-8 encoder takes it) would make storing the turn fail on every retry."""
    for body, charset in ((b"a\x00b", "utf-8"), (b"a+2AA-b", "utf-7")):
        parsed = parse_mail(mail(f"Content-Type: text/plain; charset={charset}", body=body))
        assert parsed.body == "a\ufffdb"
        assert_storable(parsed)


def test_8bit_header_fields_are_read_as_utf8_or_cp1250() -> None:
    """RFC 6532 allows raw UTF-8 in header fields; old clients send Windows-1250."""
    for charset in ("utf-8", "cp1250"):
        raw = mail(body="x").replace(
            b"Subject: Domain transfer", b"Subject: " + POLISH.encode(charset)
        )
        raw = raw.replace(b"Jan Kowalski", "Paweł Łącki".encode(charset))
        parsed = parse_mail(raw)
        assert parsed.subject == POLISH
        assert parsed.from_address == "jan.kowalski@example.com"


def test_encoded_word_subject() -> None:
    raw = mail(body="x").replace(
        b"Domain transfer", b"=?iso-8859-2?q?zmiana_w=B3a=B6ciciela?= domeny"
    )
    assert parse_mail(raw).subject == POLISH


def test_subject_is_one_bounded_line() -> None:
    raw = mail(body="x").replace(b"Domain transfer", b"one\r\n two\r\n\tthree   four")
    assert parse_mail(raw).subject == "one two three four"


# -- Broken structure --------------------------------------------------------------------------


def test_multipart_without_closing_boundary_needs_a_human() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b1"',
        body=b"--b1\r\nContent-Type: text/plain\r\n\r\nLogin: jan.kowalski\r\n",
    )
    parsed = parse_mail(raw)
    assert parsed.needs_human
    assert "CloseBoundaryNotFoundDefect" in parsed.defects
    assert parsed.body == "Login: jan.kowalski"


def test_multipart_without_boundary_parameter_needs_a_human() -> None:
    parsed = parse_mail(
        mail("Content-Type: multipart/mixed", body=b"--b1\r\n\r\ntext\r\n--b1--\r\n")
    )
    assert parsed.needs_human
    assert "NoBoundaryInMultipartDefect" in parsed.defects


def test_multipart_whose_boundary_never_appears_needs_a_human() -> None:
    raw = mail('Content-Type: multipart/mixed; boundary="b1"', body=b"--other\r\n\r\ntext\r\n")
    parsed = parse_mail(raw)
    assert parsed.needs_human
    assert "StartBoundaryNotFoundDefect" in parsed.defects


def test_broken_base64_needs_a_human() -> None:
    raw = mail("Content-Type: text/plain", "Content-Transfer-Encoding: base64", body=b"aGVsbG8*!")
    parsed = parse_mail(raw)
    assert parsed.needs_human


def test_mail_without_from_needs_a_human() -> None:
    raw = b"To: support@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
    parsed = parse_mail(raw)
    assert parsed.needs_human and parsed.from_address is None and parsed.body == "hello"


@pytest.mark.parametrize("kind", ["multipart", "rfc822"])
def test_deep_nesting_needs_a_human_and_is_fast(kind: str) -> None:
    levels = 500
    if kind == "multipart":
        head = b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(levels)
        )
        tail = b"".join(b"\r\n--b%d--" % i for i in reversed(range(levels)))
    else:
        head = b"Content-Type: message/rfc822\r\n\r\nFrom: a@example.com\r\n" * levels
        tail = b""
    raw = b"From: jan@example.com\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep" + tail
    with fast():
        parsed = parse_mail(raw)
    assert parsed.needs_human
    assert parsed.from_address == "jan@example.com"


def test_very_many_parts_are_not_all_parsed() -> None:
    """The parser costs ~0.1 ms per part; a 25 MB mail can have millions of them."""
    raw = multipart("mixed", part("text/plain", "first"), *[b"\r\nx"] * 200_000)
    with fast():
        parsed = parse_mail(raw)
    assert parsed.needs_human
    assert "too many parts" in parsed.defects
    assert parsed.body == "first"


@pytest.mark.parametrize(
    "value",
    [
        "text/plain; " + "a=b; " * 400,
        "text/plain" + ";" * 2000,
        'text/plain; a="' + '\\";' * 700,
        "text/plain " + "(x) " * 500,
        "text/plain; " + "".join(f"name*{i}*=utf-8''%C5%BC; " for i in range(100)),
    ],
    ids=["parameters", "semicolons", "quotes", "comments", "rfc2231"],
)
def test_hostile_mime_fields_in_every_part_are_fast(value: str) -> None:
    """The structure is read several times per part; with `policy.default` doing it, 200 parts
    with 2 KB of parameters took 24 seconds."""
    field = f"Content-Type: {value}\r\nContent-Disposition: inline; {value[11:]}"
    raw = multipart("mixed", *[part("text/plain", "x", field[14:])] * 199, part("text/plain", "y"))
    with fast():
        parsed = parse_mail(raw)
    assert parsed.from_address == "jan.kowalski@example.com"


def test_a_few_parts_are_fine() -> None:
    raw = multipart("mixed", part("text/plain", "first"), *[part("image/png", "x")] * 50)
    parsed = parse_mail(raw)
    assert not parsed.needs_human and parsed.body == "first"


@pytest.mark.parametrize(
    "sender",
    [
        "jan@example.com " + "(" * 1900,
        "(" * 1900 + "jan@example.com",
        "jan@example.com" + "(a" * 900,
    ],
)
def test_nested_comments_in_from_lose_nothing_else(sender: str) -> None:
    """The email package's address parsers recurse once per "(": RecursionError. It escaped
    the fallback too, and the whole mail came out empty: no sender, subject or body."""
    parsed = parse_mail(mail(body="the body", sender=sender))
    assert parsed.from_address == "jan@example.com"
    assert parsed.subject == "Domain transfer"
    assert parsed.body == "the body"


def test_nested_comments_in_content_type() -> None:
    raw = mail("Content-Type: text/plain (" + "(" * 1900, body="the body")
    parsed = parse_mail(raw)
    assert parsed.body == "the body"
    assert parsed.from_address == "jan.kowalski@example.com"


# -- Huge header sections ----------------------------------------------------------------------


def test_many_header_fields() -> None:
    fields = [f"X-Filler-{i}: value {i}" for i in range(5000)]
    with fast():
        parsed = parse_mail(mail(*fields, body="still read"))
    assert parsed.body == "still read"
    assert parsed.subject == "Domain transfer"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "a" * 500_000),
        ("Subject", "word " * 100_000),
        ("Subject", "=?utf-8?q?=C5=BC?= " * 40_000),
        ("From", "jan@example.com, " * 30_000),
        ("From", '"Jan" <jan@example.com>, ' * 20_000),
        ("Content-Type", "text/plain; charset=utf-8 " + "(x) " * 100_000),
        ("Content-Type", "text/plain; charset=utf-8; " + "a=b; " * 100_000),
        ("Content-Transfer-Encoding", "8bit " * 100_000),
        ("Content-Disposition", "inline; " + "a=b; " * 100_000),
        ("Message-ID", "<" + "a" * 500_000 + ">"),
        ("References", "<r@example.com> " * 30_000),
    ],
    ids=lambda value: value[:12],
)
def test_huge_header_field_is_bounded_and_fast(name: str, value: str) -> None:
    """The email package's structured parsing is superlinear: each of these took from 5 to 60
    seconds before fields were cut before parsing."""
    sender = "" if name == "From" else "From: jan@example.com\r\n"
    raw = f"{sender}{name}: {value}\r\n\r\nhello".encode()
    assert len(raw) < MAX_HEADER_BYTES
    with fast():
        parsed = parse_mail(raw)
    assert len(parsed.subject) <= MAX_SUBJECT_CHARS
    assert parsed.message_id is None or len(parsed.message_id) <= 255
    assert len(parsed.references) <= MAX_REFERENCES
    assert parsed.from_address == "jan@example.com"


def test_huge_subject_is_cut() -> None:
    raw = mail(body="x").replace(b"Domain transfer", b"a" * 500_000)
    assert parse_mail(raw).subject == "a" * MAX_SUBJECT_CHARS


def test_huge_body_is_cut() -> None:
    parsed = parse_mail(mail(body="word " * 1_000_000))
    assert len(parsed.body) == MAX_BODY_CHARS


# -- Quoted replies ----------------------------------------------------------------------------

AUTO_REPLY_QUOTED = (
    "> We received your request: transfer of example.pl.\n"
    "> Reply with these lines:\n"
    "> Login: your-panel-login\n"
    "> Kod: the code from your app\n"
)
AUTO_REPLY_UNQUOTED = AUTO_REPLY_QUOTED.replace("> ", "")


@pytest.mark.parametrize(
    "quoted",
    [
        pytest.param(AUTO_REPLY_QUOTED, id="bare-quote"),
        pytest.param(
            "On Mon, 5 Jan 2026 at 10:00, Support <support@example.net> wrote:\n"
            + AUTO_REPLY_QUOTED,
            id="gmail",
        ),
        pytest.param(
            "On Mon, 5 Jan 2026 at 10:00, Support Team of Example Hosting <\n"
            "support@example.net> wrote:\n\n" + AUTO_REPLY_QUOTED,
            id="gmail-wrapped",
        ),
        pytest.param(
            "W dniu 5.01.2026 o 10:00, Support pisze:\n" + AUTO_REPLY_QUOTED, id="thunderbird-pl"
        ),
        pytest.param(
            "pon., 5 sty 2026 o 10:00 Support <support@example.net> napisał(a):\n"
            + AUTO_REPLY_QUOTED,
            id="gmail-pl",
        ),
        pytest.param(
            "-----Original Message-----\n"
            "From: Support <support@example.net>\n"
            "Sent: Monday, January 5, 2026 10:00 AM\n"
            "To: Jan Kowalski <jan@example.com>\n"
            "Subject: [T-ABC123] Re: Domain transfer\n\n" + AUTO_REPLY_UNQUOTED,
            id="outlook-separator",
        ),
        pytest.param(
            "________________________________\n"
            "From: Support <support@example.net>\n"
            "Sent: Monday, January 5, 2026 10:00 AM\n\n" + AUTO_REPLY_UNQUOTED,
            id="outlook-underline",
        ),
        pytest.param(
            "From: Support <support@example.net>\n"
            "Sent: Monday, January 5, 2026 10:00 AM\n"
            "To: jan@example.com\n\n" + AUTO_REPLY_UNQUOTED,
            id="outlook-header-block",
        ),
        pytest.param(
            "Od: Support <support@example.net>\n"
            "Wysłano: poniedziałek, 5 stycznia 2026 10:00\n"
            "Do: jan@example.com\n\n" + AUTO_REPLY_UNQUOTED,
            id="outlook-pl",
        ),
        pytest.param(
            "-----Oryginalna wiadomość-----\n" + AUTO_REPLY_UNQUOTED, id="outlook-pl-separator"
        ),
    ],
)
def test_reply_keeps_only_the_clients_lines(quoted: str) -> None:
    body = f"{CLIENT_LINES}\n\n{quoted}"
    parsed = parse_mail(
        mail("Content-Type: text/plain; charset=utf-8", body=body.replace("\n", "\r\n"))
    )
    assert parsed.body == CLIENT_LINES
    assert "your-panel-login" not in parsed.body


def test_bottom_posted_reply_keeps_the_clients_lines_between_quotes() -> None:
    text = "> Login: your-panel-login\nLogin: jan.kowalski\n> Kod: the code\nKod: 123456\n"
    assert strip_quoted(text) == CLIENT_LINES


def test_signature_is_removed() -> None:
    body = f"{CLIENT_LINES}\r\n-- \r\nJan Kowalski\r\nLogin: not-this-one\r\n"
    assert parse_mail(mail(body=body)).body == CLIENT_LINES


def test_prose_mentioning_from_is_kept() -> None:
    text = "From: my old domain\nto the new one, please.\nthanks"
    assert strip_quoted(text) == "From: my old domain\nto the new one, please.\nthanks"


def test_long_lines_cost_no_backtracking() -> None:
    with fast():
        assert strip_quoted(" " * 500_000 + "x\n" + "\t" * 500_000) == "x"


# -- Automatic mail, lists, bounces, language --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "automatic"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-generated (vacation)", True),
        ("Auto-Submitted: no", False),
        ("Auto-Submitted: No (a person wrote this)", False),
        ("X-Autoreply: yes", True),
        ("X-Auto-Response-Suppress: All", True),
        ("X-Mailer: Thunderbird", False),
    ],
)
def test_auto_submitted(field: str, automatic: bool) -> None:
    assert parse_mail(mail(field)).auto_submitted is automatic


@pytest.mark.parametrize(
    ("field", "bulk"),
    [
        ("Precedence: bulk", True),
        ("Precedence: junk", True),
        ("Precedence: List", True),
        ("Precedence: first-class", False),
        ("List-Id: Announcements <announce.example.com>", True),
        ("List-Unsubscribe: <mailto:leave@example.com>", True),
        ("X-Mailer: Thunderbird", False),
    ],
)
def test_bulk(field: str, bulk: bool) -> None:
    assert parse_mail(mail(field)).bulk is bulk


def test_delivery_status_report_is_a_bounce() -> None:
    raw = multipart(
        "report",
        part("text/plain", "Your message could not be delivered."),
        part("message/delivery-status", "Reporting-MTA: dns; mx.example.com\r\n\r\nAction: failed"),
        fields=(),
    ).replace(b"multipart/report;", b"multipart/report; report-type=delivery-status;")
    parsed = parse_mail(raw)
    assert parsed.is_bounce
    assert not parse_mail(
        raw.replace(b"report-type=delivery-status", b"report-type=other")
    ).is_bounce


def test_failed_recipients_field_marks_a_bounce() -> None:
    assert parse_mail(mail("X-Failed-Recipients: jan@example.com")).is_bounce
    assert not parse_mail(mail()).is_bounce


@pytest.mark.parametrize(
    ("value", "hint"), [("pl", "pl"), ("pl-PL", "pl"), ("en-GB", "en"), ("EN", "en"), ("de", None)]
)
def test_language_hint(value: str, hint: str | None) -> None:
    assert parse_mail(mail(f"Content-Language: {value}")).language_hint == hint
    assert parse_mail(mail()).language_hint is None


# -- Threading ---------------------------------------------------------------------------------


def test_thread_ids_nearest_first_without_repeats() -> None:
    raw = mail(
        "In-Reply-To: <reply2@example.net>",
        "References: <orig@example.com> <reply1@example.net>\r\n <reply2@example.net>",
    )
    parsed = parse_mail(raw)
    assert parsed.in_reply_to == ("<reply2@example.net>",)
    assert parsed.references == (
        "<orig@example.com>",
        "<reply1@example.net>",
        "<reply2@example.net>",
    )
    assert thread_ids(parsed) == (
        "<reply2@example.net>",
        "<reply1@example.net>",
        "<orig@example.com>",
    )


def test_long_reference_chains_keep_the_nearest() -> None:
    chain = " ".join(f"<r{i}@example.com>" for i in range(500))
    parsed = parse_mail(mail(f"References: {chain}"))
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[-1] == "<r499@example.com>"
    assert thread_ids(parsed)[0] == "<r499@example.com>"
    assert len(thread_ids(parsed)) == MAX_REFERENCES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "<abc@example.com>"),
        ("  <abc@example.com> (comment)", "<abc@example.com>"),
        ("<" + "a" * 240 + "@example>", "<" + "a" * 240 + "@example>"),
        ("<" + "a" * 300 + "@example.com>", None),
        ("no-angle-brackets@example.com", None),
        ("<has space@example.com>", None),
        ("", None),
    ],
)
def test_message_id_bounds(value: str, expected: str | None) -> None:
    raw = mail(body="x").replace(b"<first@example.com>", value.encode())
    parsed = parse_mail(raw)
    assert parsed.message_id == expected
    assert parsed.message_id is None or len(parsed.message_id) <= 255


# -- What is not mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \r\n\r\n\t", id="blank"),
        pytest.param(bytes(random.Random(7).randrange(256) for _ in range(4096)), id="binary"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(1000), id="png"),
        pytest.param(
            b"GET /index.html HTTP/1.1\r\nHost: example.net\r\nFrom: a@example.com\r\n\r\n",
            id="http",
        ),
        pytest.param(
            b"From: jan@example.com\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\nx",
            id="huge-header",
        ),
        pytest.param(
            b"To: support@example.net\r\nSubject: hi\r\n\r\nFrom: jan@example.com\r\n", id="no-from"
        ),
        pytest.param(b"just some text\r\nwithout any fields\r\n", id="text"),
    ],
)
def test_not_mail_is_refused(raw: bytes) -> None:
    with pytest.raises(NotMail):
        check_is_mail(raw)
    parsed = parse_mail(raw)  # and were it accepted anyway, reading it still does not fail
    assert parsed.needs_human or parsed.from_address == "jan@example.com"


@pytest.mark.parametrize(
    ("raw", "sender"),
    [
        pytest.param(mail(), "jan.kowalski@example.com", id="normal"),
        pytest.param(
            b"From jan@example.com Mon Jan  5 10:00:00 2026\r\n" + mail(),
            "jan.kowalski@example.com",
            id="mbox-from-line",
        ),
        pytest.param(
            b"Received: from mx\r\n\tby mx.example.net\r\n" + mail(),
            "jan.kowalski@example.com",
            id="folded-first-field",
        ),
        pytest.param(mail().replace(b"\r\n", b"\n"), "jan.kowalski@example.com", id="bare-lf"),
        pytest.param(b"From: jan@example.com\r\n", "jan@example.com", id="headers-only"),
    ],
)
def test_mail_is_accepted(raw: bytes, sender: str) -> None:
    check_is_mail(raw)
    parsed = parse_mail(raw)
    assert parsed.from_address == sender
    assert not parsed.needs_human


def test_header_section_just_under_the_limit_is_accepted() -> None:
    raw = b"From: jan@example.com\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES - 100) + b"\r\n\r\nx"
    check_is_mail(raw)
    with fast():
        parsed = parse_mail(raw)
    assert parsed.from_address == "jan@example.com" and parsed.body == "x"
