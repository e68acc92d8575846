"""The client's e-mail as staff may read it: the original, with codes and identifiers masked.

Staff never see a code, not even one already spent (it may still be a TOTP step's neighbour,
and it teaches nobody anything to see one). The untouched original stays in the database for
the audit export; the copy attached to the staff mail is the original with every text part and
the subject passed through `gateway.redaction`, and a header saying so. A part left as it was
is byte for byte what the client sent.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.charset import QP, Charset
from email.message import Message

from gateway.redaction import redact

MASKED_HEADER = "X-Gateway-Masked"
READABLE_UTF8 = Charset("utf-8")
READABLE_UTF8.body_encoding = QP  # still readable in a mail's source, unlike base64


def masked_original(raw: bytes) -> Message:
    # compat32 parses leniently and writes header lines back as they came.
    message = message_from_bytes(raw, policy=policy.compat32)
    masked = False
    for part in message.walk():
        if part.get_content_maintype() == "text" and not part.is_multipart():
            masked |= _mask_part(part)
    for name in ("Subject", "Thread-Topic"):
        value = message.get(name)
        if isinstance(value, str) and redact(value) != value:
            message.replace_header(name, redact(value))
            masked = True
    if masked:
        message[MASKED_HEADER] = "codes and identifiers masked for staff; the original is kept"
    return message


def _mask_part(part: Message) -> bool:
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return False
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: read what is readable
        text = body.decode("utf-8", errors="replace")
    masked = redact(text)
    if masked == text:
        return False
    del part["Content-Transfer-Encoding"]
    part.set_payload(masked, charset=READABLE_UTF8)
    return True
