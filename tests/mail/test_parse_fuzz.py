"""Fuzzing the mail reader: whatever bytes arrive, `parse_mail` returns a bounded `ParsedMail`
whose texts can be stored, and `check_is_mail` either accepts or raises `NotMail`.

Generated: arbitrary bytes; hostile header fields (encoded words in bogus charsets, CR/LF/NUL,
8-bit bytes); MIME trees with random content types, wrong or missing boundaries, random transfer
encodings (base64 with garbage, quoted-printable, uuencode, 8bit, bogus) and charsets ("rot13",
"idna", "utf-7", "x-unknown", "base64", empty…); nested message/rfc822; byte-level mutations of
a rich real mail. The structured messages are built by `Forge` from a hypothesis-drawn `Random`:
drawing every choice through hypothesis costs ~0.2 ms a draw, which made one MIME tree take a
quarter of a second to generate. `derandomize` makes CI see the same 12,000 messages every run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import quopri
import random
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.parse import (
    MAX_BODY_CHARS,
    MAX_ID_LENGTH,
    MAX_REFERENCES,
    MAX_SUBJECT_CHARS,
    NotMail,
    ParsedMail,
    check_is_mail,
    parse_mail,
    thread_ids,
)

# MAIL_FUZZ_SCALE=10 runs ten times as many examples.
SCALE = float(os.environ.get("MAIL_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def assert_reads(raw: bytes) -> ParsedMail:
    """The properties every input must keep."""
    with contextlib.suppress(NotMail):  # any other exception fails the test
        check_is_mail(raw)
    parsed = parse_mail(raw)
    assert isinstance(parsed, ParsedMail)
    assert isinstance(parsed.body, str) and len(parsed.body) <= MAX_BODY_CHARS
    assert isinstance(parsed.subject, str) and len(parsed.subject) <= MAX_SUBJECT_CHARS
    assert len(parsed.defects) <= 20 and all(isinstance(d, str) for d in parsed.defects)
    assert parsed.message_id is None or len(parsed.message_id) <= MAX_ID_LENGTH
    assert len(parsed.references) <= MAX_REFERENCES
    assert all(len(found) <= MAX_ID_LENGTH for found in parsed.in_reply_to)
    assert len(thread_ids(parsed)) <= MAX_REFERENCES
    assert parsed.language_hint in (None, "pl", "en")
    if parsed.from_address is None:
        assert parsed.needs_human and parsed.from_domain == ""
    else:
        assert "@" in parsed.from_address
        assert parsed.from_domain == parsed.from_address.rpartition("@")[2]
    texts = [parsed.body, parsed.subject, parsed.from_address or "", parsed.message_id or ""]
    for text in [*texts, *parsed.in_reply_to, *parsed.references]:
        text.encode("utf-8")  # storable: no lone surrogates ...
        assert "\x00" not in text  # ... and no NUL (PostgreSQL text refuses it)
    return parsed


# -- The generator -----------------------------------------------------------------------------

CHARSETS = [
    "utf-8", "UTF-8", "us-ascii", "iso-8859-2", "windows-1250", "cp1250", "koi8-r", "utf-16",
    "utf-32", "shift_jis", "iso-2022-jp", "gb2312", "utf-7", "rot13", "idna", "x-unknown",
    "base64", "", "unicode-escape", "raw-unicode-escape", "punycode", "undefined", "zlib",
    "hex", "uu", "bz2", "quopri", "mbcs", "utf-8*pl", '"utf-8"', "utf-8\x00", "ut\xff8",
]  # fmt: skip
FIELDS = [
    "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
    "Auto-Submitted", "Precedence", "List-Id", "Content-Language", "X-Failed-Recipients",
    "Reply-To", "Sender", "Received", "DKIM-Signature", "Authentication-Results",
]  # fmt: skip
CONTENT_TYPES = [
    "text/plain", "text/html", "TEXT/PLAIN", "text/enriched", "application/octet-stream",
    "image/png", "message/delivery-status", "text", "/", "multipart/mixed", "message/rfc822",
    "text/plain/extra", "", "text/plain; format=flowed", "text/html; (comment",
]  # fmt: skip
ENCODINGS = [
    "base64", "base64-garbage", "quoted-printable", "x-uuencode", "uuencode", "8bit", "7bit",
    "binary", "x-bogus", "BASE64", "", "quoted-printable; x=y",
]  # fmt: skip
SUBTYPES = ["mixed", "alternative", "related", "report", "digest", "x-random", ""]
BOUNDARIES = ["b1", "=_part_0_1", "a b", "x" * 80, "x" * 75, "", "--", "b1--", "ż"]
BOUNDARY_MODES = [
    "ok", "ok", "ok", "no-close", "wrong", "missing", "no-start", "unquoted", "in-child",
]  # fmt: skip
PIECES = [
    b"jan@example.com", b"Jan <jan@example.com>", b'"Kowalski, Jan" <jan@example.com>',
    b"<id@example.com>", b"<" + b"a" * 300 + b">", b"undisclosed-recipients:;", b"a@", b"@",
    b"text/plain; charset=utf-8", b"multipart/mixed; boundary=b", b"auto-replied", b"bulk",
    b"pl", b"\r\n", b"\n", b"\r", b"\x00", b"\r\n ", b"\n\t", b" ", b";", b"(", b")", b'"',
    b"\\", b"=?", b"?=", b"<", b">", b",", b":", b"*0*=", b"''",
]  # fmt: skip
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,:;-_",
    "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ ",
    "\x00\x01\t\n\r\x0b\x0c\x1b\x7f\x85\u2028\u2029",
    "<>&;\"'=()[]{}\\/@!?#%*+",
    "\u00e9\u4e2d\ufeff\ufffd\U0001f600\u202e",
]


class Forge:
    """Random hostile mail, built from one Random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def text(self, limit: int = 40) -> str:
        alphabet = "".join(self.rng.sample(ALPHABETS, self.rng.randint(1, len(ALPHABETS))))
        return "".join(self.rng.choices(alphabet, k=self.rng.randint(0, limit)))

    def junk(self, limit: int = 12) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, limit))

    def charset(self) -> str:
        if self.chance(0.1):
            return self.text(12)
        return self.rng.choice(CHARSETS)

    def encode(self, text: str, charset: str) -> bytes:
        try:
            return text.encode(charset or "utf-8")
        except (LookupError, UnicodeError, ValueError, TypeError):
            return self.junk(40)

    def encoded_word(self) -> bytes:
        charset = self.charset()
        data = self.encode(self.text(), charset)
        payload = self.rng.choice(
            [
                base64.b64encode(data),
                base64.b64encode(data).rstrip(b"="),
                quopri.encodestring(data, header=True),
                data,
                b"!!not*base64%%",
            ]
        )
        kind = self.rng.choice([b"q", b"Q", b"b", b"B", b"x", b""])
        return b"=?" + charset.encode("utf-8", "replace") + b"?" + kind + b"?" + payload + b"?="

    def value(self) -> bytes:
        pieces = []
        for _ in range(self.rng.randint(0, 8)):
            pick = self.rng.random()
            if pick < 0.25:
                pieces.append(self.text().encode("utf-8"))
            elif pick < 0.45:
                pieces.append(self.encoded_word())
            elif pick < 0.55:
                pieces.append(self.junk())
            else:
                pieces.append(self.rng.choice(PIECES))
        if self.chance(0.02):
            pieces.append(self.rng.choice(PIECES) * self.rng.randint(100, 3000))
        return b"".join(pieces)

    def name(self) -> bytes:
        if self.chance(0.8):
            name = self.rng.choice(FIELDS)
            return (name.lower() if self.chance(0.2) else name).encode()
        return self.text(16).encode("utf-8") or b"X"

    def fields(self, most: int = 10) -> list[bytes]:
        fields = [
            self.name() + self.rng.choice([b": ", b":", b" : ", b":\t", b""]) + self.value()
            for _ in range(self.rng.randint(0, most))
        ]
        if self.chance(0.7):
            fields.insert(self.rng.randint(0, len(fields)), b"From: " + self.value())
        return fields

    def leaf(self) -> bytes:
        charset = self.charset()
        encoding = self.rng.choice(ENCODINGS)
        if self.chance(0.3):
            text = self.rng.choice(
                [
                    "<p>a &amp; b<script>x</script>",
                    "Login: jan\n> Login: x\n-- \nsig",
                    "On x wrote:",
                ]
            )
        else:
            text = self.text(200)
        data = self.encode(text, charset)
        body = self.transfer_encoded(data, encoding)
        fields = []
        content_type = self.rng.choice(CONTENT_TYPES) if self.chance(0.9) else self.text(20)
        if content_type or self.chance(0.5):
            parameter = self.rng.choice(
                ['; charset="{}"', "; charset={}", "; charset*=us-ascii''{}", "", ";;{}"]
            )
            line = f"Content-Type: {content_type}{parameter.format(charset)}"
            fields.append(line.encode("utf-8", "surrogatepass"))
        if encoding:
            fields.append(b"Content-Transfer-Encoding: " + encoding.split("-garbage")[0].encode())
        if self.chance(0.2):
            fields.append(
                self.rng.choice([b"Content-Disposition: attachment", b"Content-Disposition: x;"])
            )
        return b"\r\n".join([*fields, b"", body])

    def transfer_encoded(self, data: bytes, encoding: str) -> bytes:
        if encoding.lower() == "base64":
            return base64.encodebytes(data)
        if encoding == "base64-garbage":
            return base64.encodebytes(data)[: self.rng.randint(0, 80)] + self.junk()
        if encoding.startswith("quoted-printable"):
            return quopri.encodestring(data) + self.rng.choice([b"", b"=", b"=Z", b"=\r\n"])
        if "uuencode" in encoding:
            lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
            end = self.rng.choice([b"`\nend\n", b"", b"junk"])
            return b"begin 644 a.txt\n" + b"".join(lines) + end
        return data

    def multipart(self, depth: int) -> bytes:
        subtype = self.rng.choice(SUBTYPES)
        boundary = self.rng.choice(BOUNDARIES)
        mode = self.rng.choice(BOUNDARY_MODES)
        marker = b"other" if mode == "wrong" else boundary.encode()
        if mode == "missing":
            content_type = f"Content-Type: multipart/{subtype}"
        elif mode == "unquoted":
            content_type = f"Content-Type: multipart/{subtype}; boundary={boundary}"
        else:
            content_type = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
        if subtype == "report" and self.chance(0.5):
            content_type += "; report-type=delivery-status"
        body = [self.rng.choice([b"", b"preamble\r\n"])]
        for index in range(self.rng.randint(0, 4)):
            if not (mode == "no-start" and index == 0):
                body.append(b"--" + marker + self.rng.choice([b"\r\n", b"  \r\n", b"\n"]))
            body.append(self.entity(depth + 1) + b"\r\n")
            if mode == "in-child":
                body.append(b"--" + marker + b"x\r\n")
        if mode != "no-close":
            body.append(b"--" + marker + b"--\r\n" + self.rng.choice([b"", b"epilogue"]))
        return content_type.encode() + b"\r\n\r\n" + b"".join(body)

    def rfc822(self, depth: int) -> bytes:
        inner = b"\r\n".join([*self.fields(3), b""]) + self.entity(depth + 1)
        return b"Content-Type: message/rfc822\r\n\r\n" + inner

    def entity(self, depth: int = 0) -> bytes:
        pick = self.rng.random()
        if depth >= 4 or pick < 0.5:
            return self.leaf()
        return self.multipart(depth) if pick < 0.85 else self.rfc822(depth)

    def message(self, entity: bytes) -> bytes:
        raw = b"\r\n".join([*self.fields(), b""]) + entity
        newline = self.rng.choice([b"\r\n", b"\r\n", b"\n", b"\r"])
        return raw if newline == b"\r\n" else raw.replace(b"\r\n", newline)


forges = st.randoms(use_true_random=True).map(Forge)


# -- The properties ----------------------------------------------------------------------------


@fuzz(3000)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_reads(raw)


@fuzz(1500)
@given(
    st.sampled_from([b"From: jan@example.com\r\n", b"From: jan@example.com\r\n\r\n", b""]),
    st.binary(max_size=2000),
)
def test_arbitrary_bytes_after_a_from_field(head: bytes, data: bytes) -> None:
    assert_reads(head + data)


@fuzz(2000)
@given(forges)
def test_hostile_header_fields(forge: Forge) -> None:
    body = forge.rng.choice([b"", b"hello", forge.junk(200)])
    assert_reads(forge.message(b"\r\n" + body))


@fuzz(3000)
@given(forges)
def test_mime_trees(forge: Forge) -> None:
    assert_reads(forge.message(forge.entity()))


@fuzz(1000)
@given(forges, st.integers(1, 60))
def test_nested_rfc822(forge: Forge, levels: int) -> None:
    raw = forge.leaf()
    for _ in range(levels):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + b"\r\n".join([*forge.fields(2), raw])
    assert_reads(b"From: jan@example.com\r\n" + raw)


SEED = (
    b"From: =?utf-8?q?Pawe=C5=82?= <pawel@example.pl>\r\n"
    b"To: support@example.net\r\n"
    b"Subject: =?iso-8859-2?b?em1pYW5hIHezYbZjaWNpZWxhIGRvbWVueQ==?=\r\n"
    b"Message-ID: <m1@example.pl>\r\n"
    b"In-Reply-To: <r1@example.net>\r\n"
    b"References: <r0@example.net> <r1@example.net>\r\n"
    b"Auto-Submitted: no\r\n"
    b"Content-Language: pl\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=windows-1250\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Login: jan.kowalski\r\nKod: 123456\r\n\r\n"
    b"W dniu 5.01.2026 Support pisze:\r\n> Login: x=B3\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"PHA+TG9naW46IGphbi5rb3dhbHNraTwvcD48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: old@example.pl\r\nSubject: old\r\n\r\nold text\r\n"
    b"--outer\r\n"
    b'Content-Type: application/pdf; name="a.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--outer--\r\n"
)


def test_the_seed_mail_reads_well() -> None:
    """The mutation fuzz starts from a mail that is read correctly."""
    parsed = assert_reads(SEED)
    assert parsed.body == "Login: jan.kowalski\nKod: 123456"
    assert parsed.subject == "zmiana właściciela domeny"
    assert parsed.from_address == "pawel@example.pl"
    assert thread_ids(parsed) == ("<r1@example.net>", "<r0@example.net>")
    assert not parsed.needs_human and parsed.language_hint == "pl"


@fuzz(1500)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SEED) - 1),
            st.sampled_from(["replace", "insert", "delete", "repeat"]),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_real_mail(changes: list[tuple[int, str, bytes]]) -> None:
    raw = SEED
    for position, operation, data in changes:
        position %= max(len(raw), 1)
        if operation == "replace":
            raw = raw[:position] + data + raw[position + len(data) :]
        elif operation == "insert":
            raw = raw[:position] + data + raw[position:]
        elif operation == "delete":
            raw = raw[:position] + raw[position + len(data) :]
        else:
            raw = raw[:position] + raw[position : position + 40] * len(data) + raw[position:]
    assert_reads(raw)
