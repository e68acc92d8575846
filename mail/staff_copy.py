"""The client's e-mail as staff may read it: what the gateway read and classified, masked.

Staff never see a code, not even one already spent (it may still be a TOTP step's neighbour,
and it teaches nobody anything to see one). The untouched original stays in the database for
the audit export; the copy attached to the staff mail walks the same parts, with the same
reading budget, as `mail.parse` did when it classified the mail: every text part and the
subject passed through `gateway.redaction`, a part cut where reading stopped, and every part
the gateway did not read (an image, a PDF, a part nested too deep, a multipart's preamble)
withheld, verified or not: nothing staff read went unclassified, and a change hidden where
the gateway does not look cannot ride on a verification. A header says what was done.
A part left as it was is byte for byte what the client sent.
"""

from __future__ import annotations

import secrets
import string
from email.charset import QP, Charset
from email.header import Header, decode_header, make_header
from email.message import Message

from gateway.redaction import redact
from mail.html_text import html_to_text
from mail.parse import MAX_PARTS, Leaf, leaves, part_filename, read_tree

MASKED_HEADER = "X-Gateway-Masked"
WITHHELD_HEADER = "X-Gateway-Withheld-Headers"
# What a mail client shows of a message or a part, and what holds its structure: kept, each
# masked as read (display names, the Subject after RFC 2047 decoding, a file name). The rest
# is nothing the gateway classified, so it is withheld (the original keeps it).
SHOWN_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "date", "subject", "message-id",
        "in-reply-to", "references", "mime-version", "content-type",
        "content-transfer-encoding", "content-disposition", "content-id",
    }
)  # fmt: skip
# The transfer encoding the copy itself sets, and the MIME version, are never masked.
STRUCTURAL_HEADERS = frozenset({"mime-version", "content-transfer-encoding"})
READABLE_UTF8 = Charset("utf-8")
READABLE_UTF8.body_encoding = QP  # still readable in a mail's source, unlike base64
EVERY_PART_LIMIT = 10 * MAX_PARTS


class CopyRefused(ValueError):
    """The mail has more parts than the gateway walks: no copy is safer than part of one."""


def masked_original(raw: bytes) -> Message:
    """The copy for staff: every part the gateway read, masked; every other part (an image, a
    PDF, a part nested deeper than the reader goes) replaced by a line naming it, verified or
    not: staff read only what was classified, and a verification covers only what it read."""
    # compat32 parses leniently and writes header lines back as they came.
    message, _ = read_tree(raw)
    changed = False
    read: set[int] = set()
    for leaf in leaves(message):
        if leaf.kind == "text":
            changed |= _mask_part(leaf)
            read.add(id(leaf.part))
    for part in _every_part(message):
        if part.is_multipart():
            # What sits outside a multipart's parts no mail client shows, and nobody read.
            if part.preamble or part.epilogue:
                part.preamble = part.epilogue = None
                changed = True
        elif id(part) not in read:
            _withhold(part)
            changed = True
        changed |= _mask_headers(part)
    if changed:
        message[MASKED_HEADER] = (
            "codes and identifiers masked for staff, unread parts withheld; the original is kept"
        )
    return message


def _every_part(message: Message) -> list[Message]:
    """Every part however deep, without recursion; a mail with more parts than the parser
    would ever read is refused whole (the staff mail then says the copy was withheld)."""
    found: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        found.append(part)
        if len(found) > EVERY_PART_LIMIT:
            raise CopyRefused(f"more than {EVERY_PART_LIMIT} parts")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(child for child in reversed(payload) if isinstance(child, Message))
    return found


def _mask_headers(part: Message) -> bool:
    """The headers a mail client shows or needs, masked as read, in place and in order (a name
    may repeat); every other header (Comments, Keywords, X-Mailer…, which the gateway does
    not classify) withheld, named in one line. A multipart whose boundary or parameters
    hold a number gets a boundary of letters, so masking its Content-Type keeps the tree."""
    if part.is_multipart() and redact(str(part.get("Content-Type", ""))) != str(
        part.get("Content-Type", "")
    ):
        part.set_boundary(_letters_boundary())
    originals = list(part.raw_items())
    kept = [(name, value) for name, value in originals if name.lower() in SHOWN_HEADERS]
    withheld = sorted({redact(name) for name, _ in originals} - {name for name, _ in kept})
    masked = [_masked_header(name, value) for name, value in kept]
    if not withheld and all(value is None for value in masked):
        return False
    for name in {name for name, _ in originals}:
        del part[name]
    for (name, value), replaced in zip(kept, masked, strict=True):
        part.set_raw(name, value if replaced is None else replaced)
    if withheld:
        part[WITHHELD_HEADER] = ", ".join(withheld)[:900]
    return True


def _letters_boundary() -> str:
    return "gateway-" + "".join(secrets.choice(string.ascii_letters) for _ in range(24))


def _masked_header(name: str, value: str) -> str | None:
    """The masked value, or None where there is nothing to mask."""
    if name.lower() in STRUCTURAL_HEADERS:
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


def _withhold(part: Message) -> None:
    """Replace a part the gateway did not read by a line naming it."""
    payload = part.get_payload()
    size = len(payload) if isinstance(payload, str) else 0
    filename = part_filename(part)
    name = f' "{redact(filename)}"' if filename else ""
    note = (
        f"[withheld from staff: {part.get_content_type()}{name}, about {size} bytes encoded. "
        "The gateway did not read it, so it is not shown; the original is kept for the audit "
        "export.]\n"
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
