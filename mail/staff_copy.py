"""The client's e-mail as staff may read it: what the gateway read and classified, masked.

Staff never see a code, not even one already spent (it may still be a TOTP step's neighbour,
and it teaches nobody anything to see one). The untouched original stays in the database for
the audit export; the copy attached to the staff mail walks the same parts, with the same
reading budget, as `mail.parse` did when it classified the mail: every text part and the
subject passed through `gateway.redaction`, a part cut where reading stopped, and a part the
gateway could not read at all (an image, a PDF) withheld unless the request was verified, so
that nothing staff read of an unverified mail went unclassified. A header says what was done.
A part left as it was is byte for byte what the client sent.
"""

from __future__ import annotations

from email.charset import QP, Charset
from email.header import Header, decode_header, make_header
from email.message import Message

from gateway.redaction import redact
from mail.html_text import html_to_text
from mail.parse import Leaf, leaves, read_tree

MASKED_HEADER = "X-Gateway-Masked"
# Every header is masked as read (X-Mailer, Organization, Message-ID, User-Agent… are the
# client's or their program's words as much as the Subject is), except those that hold the
# structure: a multipart's boundary, the transfer encoding the copy itself sets.
STRUCTURAL_HEADERS = frozenset({"mime-version", "content-transfer-encoding"})
READABLE_UTF8 = Charset("utf-8")
READABLE_UTF8.body_encoding = QP  # still readable in a mail's source, unlike base64


def masked_original(raw: bytes, *, verified: bool = False) -> Message:
    """The copy for staff; `verified`: the request this mail made was verified by the client,
    so parts the gateway cannot read are passed on as they came."""
    # compat32 parses leniently and writes header lines back as they came.
    message, _ = read_tree(raw)
    changed = False
    for leaf in leaves(message):
        if leaf.kind == "text":
            changed |= _mask_part(leaf)
        elif not verified:
            _withhold(leaf)
            changed = True
    for part in message.walk():
        changed |= _mask_headers(part)
    if changed:
        message[MASKED_HEADER] = (
            "codes and identifiers masked for staff, unread parts withheld; the original is kept"
        )
    return message


def _mask_headers(part: Message) -> bool:
    """Every header masked as read, in place and in order (a name may repeat)."""
    originals = list(part.raw_items())
    masked = [_masked_header(part, name, value) for name, value in originals]
    if all(value is None for value in masked):
        return False
    for name in {name for name, _ in originals}:
        del part[name]
    for (name, value), replaced in zip(originals, masked, strict=True):
        part.set_raw(name, value if replaced is None else replaced)
    return True


def _masked_header(part: Message, name: str, value: str) -> str | None:
    """The masked value, or None where there is nothing to mask."""
    lower = name.lower()
    if lower in STRUCTURAL_HEADERS or (lower == "content-type" and part.is_multipart()):
        return None
    text = decoded_header(value)
    masked = redact(text)
    if masked == text:
        return None
    # Masked as read, after RFC 2047 decoding: "=?utf-8?q?kod_48433624?=" is a code.
    return masked if masked.isascii() else Header(masked, "utf-8").encode()


def _mask_part(leaf: Leaf) -> bool:
    """The part's text as read, masked; cut where the reading stopped, with a line saying so.
    HTML is masked as a reader sees it: markup can split what the source shows whole
    ("9588<!-- -->6261", "&#52;&#56;…"), so HTML whose rendering shows a secret becomes its
    masked rendering, as plain text."""
    rendered = html_to_text(leaf.text, quotes=True) if leaf.content_type == "text/html" else ""
    masked = redact(leaf.text)
    if rendered and redact(rendered) != rendered:
        masked = redact(rendered)
        del leaf.part["Content-Type"]  # set_payload below makes it text/plain
    elif masked == leaf.text and not leaf.cut:
        return False
    if leaf.cut:
        masked += (
            f"\n\n[the rest of this part is withheld: the gateway read only its first "
            f"{len(leaf.text)} characters; the original is kept]\n"
        )
    part = leaf.part
    del part["Content-Transfer-Encoding"]
    part.set_payload(masked, charset=READABLE_UTF8)
    return True


def _withhold(leaf: Leaf) -> None:
    """Replace a part the gateway could not read by a line naming it."""
    part = leaf.part
    size = len(part.get_payload() or "") if isinstance(part.get_payload(), str) else 0
    name = f' "{redact(leaf.filename)}"' if leaf.filename else ""
    note = (
        f"[withheld from staff: {leaf.content_type}{name}, about {size} bytes encoded. The "
        "gateway cannot read it, so it is not shown for an unverified request; the original "
        "is kept for the audit export.]\n"
    )
    for header in ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition"):
        del part[header]
    part.set_payload(note, charset=READABLE_UTF8)


def decoded_header(value: object) -> str:
    """A header's text as a reader sees it: encoded words decoded, bytes that are not UTF-8
    replaced (so nothing unwritable is written back)."""
    raw = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError):  # a malformed or unknown encoded word
        return raw
