"""The copy of a client's e-mail attached for staff: codes and identifiers masked in every text
part and the subject, whatever the transfer encoding; everything else as it came."""

from __future__ import annotations

import base64
import quopri

from gateway.pipeline.staff_copy import MASKED_HEADER, masked_original

PESEL = "44051401359"
QP = "Content-Transfer-Encoding: quoted-printable"
B64 = "Content-Transfer-Encoding: base64"


def mail(*parts: str, subject: str = "DNS") -> bytes:
    head = f"From: jan@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
    if len(parts) == 1:
        return (head + parts[0]).encode("latin-1")
    body = "".join(f"--b\r\n{part}\r\n" for part in parts) + "--b--\r\n"
    return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body).encode("latin-1")


def test_codes_are_masked_in_every_encoding_and_the_subject() -> None:
    qp = quopri.encodestring(f"<p>Kod: <b>123456</b>, PESEL {PESEL}</p>".encode()).decode()
    b64 = base64.b64encode(b"Login: jan\r\nCode: 87654321\r\n").decode()
    raw = mail(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nmy code is 555111",
        f"Content-Type: text/html; charset=utf-8\r\n{QP}\r\n\r\n{qp}",
        f"Content-Type: text/plain; charset=utf-8\r\n{B64}\r\n\r\n{b64}",
        subject="Re: [T-ABC123] kod 998877",
    )
    copy = masked_original(raw)
    shown = copy.as_bytes()
    texts = [p.get_payload(decode=True).decode() for p in copy.walk() if not p.is_multipart()]
    for secret in ("555111", "123456", PESEL, "87654321", "998877"):
        assert secret.encode() not in shown and all(secret not in t for t in texts)
    assert "[code]" in copy["Subject"] and "T-ABC123" in copy["Subject"]
    assert any("[PESEL]" in t for t in texts)
    assert copy[MASKED_HEADER]


def test_a_mail_without_codes_comes_through_unchanged() -> None:
    raw = mail("Content-Type: text/plain; charset=utf-8\r\n\r\nWhen does example.pl expire?")
    copy = masked_original(raw)
    assert copy.as_bytes() == raw.replace(b"\r\n", b"\n")
    assert copy[MASKED_HEADER] is None


def test_attachments_and_unknown_charsets_are_left_or_read_as_they_can_be() -> None:
    image = base64.b64encode(b"\x89PNG 123456").decode()
    raw = mail(
        "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nkod: 424242 prosz\xea",
        f"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n{image}",
    )
    copy = masked_original(raw)
    text, png = [p for p in copy.walk() if not p.is_multipart()]
    assert b"424242" not in text.get_payload(decode=True)
    assert png.get_payload(decode=True) == b"\x89PNG 123456"  # not ours to read
