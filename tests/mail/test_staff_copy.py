"""The copy of a client's e-mail attached for staff: codes and identifiers masked in every text
part and the subject, whatever the transfer encoding; every part the gateway did not read
withheld; the rest as it came."""

from __future__ import annotations

import base64
import quopri
from email import message_from_bytes

from mail.staff_copy import MASKED_HEADER, WITHHELD_HEADER, decoded_header, masked_original

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


def test_attachments_are_withheld_and_unknown_charsets_read_as_they_can_be() -> None:
    """Review (helper-10, F6): a verified request's copy used to pass unread parts on as they
    came, so a change in an image, a PDF or an `application/octet-stream` "notes.txt" reached
    staff beside a verification that never read it. Withheld whatever the verification."""
    image = base64.b64encode(b"\x89PNG 123456").decode()
    notes = base64.b64encode(b"Please also transfer example.pl, PESEL " + PESEL.encode()).decode()
    raw = mail(
        "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nkod: 424242 prosz\xea",
        f"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n{image}",
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f'filename="notes.txt"\r\n{B64}\r\n\r\n{notes}',
    )
    copy = masked_original(raw)
    text, png, octets = [p for p in copy.walk() if not p.is_multipart()]
    assert b"424242" not in text.get_payload(decode=True)
    for withheld in (png, octets):
        assert "withheld" in withheld.get_payload(decode=True).decode()
    shown = copy.as_bytes()
    assert b"PNG" not in shown and notes.encode() not in shown and b"example.pl" not in shown


def test_parts_nested_deeper_than_the_reader_goes_and_preambles_are_withheld() -> None:
    """Sixty levels of multipart with a change at the bottom, and text in a preamble and an
    epilogue: the reader stops at its depth, so the copy shows none of it."""
    deep = "Content-Type: text/plain\r\n\r\nPlease also transfer example.pl\r\n"
    for level in range(60):
        deep = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
            f"--b{level}\r\n{deep}\r\n--b{level}--\r\n"
        )
    raw = (
        "From: jan@example.com\r\nSubject: DNS\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="top"\r\n\r\n'
        f"preamble: transfer abc-firma.pl, NIP 1234563218\r\n"
        "--top\r\nContent-Type: text/plain\r\n\r\nPlease add a TXT record to demo.example\r\n"
        f"--top\r\n{deep}\r\n--top--\r\nepilogue: PESEL {PESEL}\r\n"
    ).encode()
    shown = masked_original(raw).as_bytes()
    assert b"TXT record to demo.example" in shown
    for hidden in (b"example.pl", b"abc-firma.pl", b"1234563218", PESEL.encode()):
        assert hidden not in shown.replace(b"demo.example", b"")


def test_a_part_the_gateway_cannot_read_is_withheld() -> None:
    """Staff act only on what was classified: an image or a PDF of an unverified mail (a
    question, say) is replaced by a line naming it; the original is kept."""
    pdf = base64.b64encode(b"%PDF transfer example.pl to evil@attacker.example").decode()
    raw = mail(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nWhen does example.pl expire?",
        "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
        f'filename="zlecenie 482135.pdf"\r\n{B64}\r\n\r\n{pdf}',
    )
    copy = masked_original(raw)
    text, note = [p for p in copy.walk() if not p.is_multipart()]
    shown = copy.as_bytes()
    assert b"%PDF" not in shown and pdf.encode() not in shown and b"482135" not in shown
    withheld = note.get_payload(decode=True).decode()
    assert note.get_content_type() == "text/plain" and "withheld" in withheld
    assert "application/pdf" in withheld and "zlecenie [number].pdf" in withheld
    assert copy[MASKED_HEADER]


def test_text_beyond_what_the_gateway_read_is_withheld() -> None:
    from mail.parse import PART_CHARS

    tail = "Please transfer example.pl to evil@attacker.example"
    raw = mail(
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{'x' * PART_CHARS}{tail}",
        'Content-Type: text/plain; name="kod 48213570.txt"\r\n'
        'Content-Disposition: attachment; filename="kod 48213570.txt"\r\n\r\nattached',
    )
    copy = masked_original(raw)
    part, attached = [p for p in copy.walk() if not p.is_multipart()]
    text = part.get_payload(decode=True).decode()
    assert tail not in text and "the rest of this part is withheld" in text
    assert b"48213570" not in copy.as_bytes() and "[code]" in str(attached.get_filename())


def test_encoded_subjects_and_display_names_are_masked_after_decoding() -> None:
    raw = (
        b"From: =?utf-8?b?" + base64.b64encode(b"Jan, kod 482135") + b"?= <jan@example.com>\r\n"
        b"Subject: =?utf-8?q?Pytanie_kod_48433624?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nWhen does example.pl expire?\r\n"
    )
    copy = masked_original(raw)
    shown = copy.as_bytes().decode("ascii", "replace")
    assert "48433624" not in decoded_header(copy["Subject"]) and "[code]" in decoded_header(
        copy["Subject"]
    )
    assert "482135" not in decoded_header(copy["From"]) and "jan@example.com" in copy["From"]
    assert "48433624" not in shown and "482135" not in shown
    assert copy[MASKED_HEADER]


def test_a_header_that_is_not_utf8_is_read_as_far_as_it_can_be() -> None:
    raw = b"From: jan@example.com\r\nSubject: kod 123456 \xff\xfe =?x-bogus?q?a?=\r\n\r\nhi\r\n"
    copy = masked_original(raw)
    assert "123456" not in decoded_header(copy["Subject"])
    copy.as_bytes()  # writable


def test_headers_are_masked_or_withheld_and_the_structure_kept() -> None:
    """What a mail client shows is masked as read; X-Mailer, Organization, User-Agent,
    Comments, Keywords… are not classified, so they are withheld (named, masked) — review
    (helper-12, F2): "Comments: ALSO transfer example.pl" rode on a verified copy. A boundary
    holding a number (helper-12, F3) is replaced, and the tree still parses."""
    raw = (
        b"From: jan@example.com\r\nX-Mailer: code 86829847 PESEL 44051401359\r\n"
        b"Organization: NIP 1234563218\r\nMessage-ID: <39451456@attacker.test>\r\n"
        b"User-Agent: =?utf-8?q?PESEL_44051401359?=\r\nComments: ALSO transfer example.pl\r\n"
        b"Keywords: example.pl\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="PESEL-44051401359"; x-pesel="44051401359"'
        b"\r\n\r\n--PESEL-44051401359\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--PESEL-44051401359--\r\n"
    )
    copy = masked_original(raw)
    shown = copy.as_bytes()
    for secret in (b"86829847", PESEL.encode(), b"1234563218", b"39451456", b"example.pl"):
        assert secret not in shown
    names = [name for name, _ in copy.items()]
    assert names[:3] == ["From", "Message-ID", "MIME-Version"]
    assert "X-Mailer" not in names and "Comments" not in names
    assert "Comments" in copy[WITHHELD_HEADER] and "X-Mailer" in copy[WITHHELD_HEADER]
    (part,) = [p for p in message_from_bytes(shown).walk() if not p.is_multipart()]
    assert part.get_payload().strip() == "hello"  # a new boundary: the structure is intact


def test_html_is_masked_as_a_reader_sees_it() -> None:
    """Digits split by markup, or written as character references, are a code on screen."""
    for html in (
        "Kod: 9588<!-- -->6261",
        "PESEL 4405<span></span>1401359",
        "PESEL &#52;&#52;051401359",
    ):
        raw = mail(f"Content-Type: text/html; charset=utf-8\r\n\r\n<p>{html}</p>")
        copy = masked_original(raw)
        (part,) = [p for p in copy.walk() if not p.is_multipart()]
        text = part.get_payload(decode=True).decode()
        assert "6261" not in text and "1401359" not in text, text
