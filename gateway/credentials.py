"""Panel login and one-time code as a client types them in a chat line or an e-mail body.

Clients write credentials in many shapes ("login jan code 123456", "Login: …" / "Kod: …" lines
in a reply). Reading them is deliberately strict: a value that is not clearly a login or a code
yields nothing rather than a guess, because every wrong guess would count as a failed attempt
toward the lockout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOGIN_MAX_LENGTH = 64
LOGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+\-]{0,63}")
TOTP_CODE_LENGTH = 6
PANEL_CODE_LENGTH = 8
CODE_LENGTHS = (TOTP_CODE_LENGTH, PANEL_CODE_LENGTH)
# An e-mail may carry up to 25 MB of text; credentials sit at the top of what the client wrote,
# so only the first 64 Ki characters are read.
MAX_SCAN_CHARS = 64 * 1024

_H = "[ \t\u00a0]"
_FILLER = rf"(?:(?:to|is|jest|brzmi){_H}+)?"
_LOGIN_RE = re.compile(
    r"(?<!\w)(?:login(?:em|u)?|u[żz]ytkownik(?:a|iem)?|username|user[ \t]name"
    r"|nazwa[ \t]u[żz]ytkownika)"
    rf"(?:{_H}+(?:do{_H}+panelu|w{_H}+panelu|klienta|panelu))?"
    rf"(?:{_H}*[:=]{_H}*|{_H}+{_FILLER})"
    r"(?P<login>[A-Za-z0-9][A-Za-z0-9._@+\-]*)",
    re.IGNORECASE,
)
# Bare "hasło"/"password" is not a code label: we never ask for the panel password, and reading
# one as a code would spend a failed attempt.
_CODE_RE = re.compile(
    rf"(?<!\w)(?:(?:one[- ]?time|verification|2fa|jednorazowy){_H}+)?"
    r"(?:kod(?:em|u)?|code|passcode|otp|totp|has[łl]o[ \t]jednorazowe|one[- ]?time[ \t]password)"
    rf"(?:{_H}+(?:jednorazow[yae]|weryfikacyjny|z{_H}+panelu|sms|totp|2fa))?"
    rf"(?:{_H}*[:=]{_H}*|{_H}+{_FILLER})"
    r"(?P<code>[0-9]{4}[ \-]?[0-9]{4}|[0-9]{3}[ \-]?[0-9]{3})",
    re.IGNORECASE,
)
# Outlook-style replies quote the original below such a line instead of with ">".
_ORIGINAL_RE = re.compile(
    r"-{2,}\s*(?:original message|wiadomo(?:ść|sc) oryginalna|oryginalna wiadomo(?:ść|sc)"
    r"|forwarded message|wiadomo(?:ść|sc) przekazana)\s*-{2,}",
    re.IGNORECASE,
)
# fmt: off
_NOT_A_LOGIN = frozenset({
    "a", "i", "and", "do", "is", "jest", "to", "oraz", "kod", "code", "otp", "totp", "passcode",
    "login", "hasło", "haslo", "password",
})
# fmt: on


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """`code` holds digits only; the repr hides it so a stray log line cannot leak it."""

    login: str
    code: str

    def __repr__(self) -> str:
        return f"Credentials(login={self.login!r}, code='***')"


def is_valid_login(login: str) -> bool:
    return LOGIN_PATTERN.fullmatch(login) is not None


def _normal_code(code: str) -> str | None:
    digits = code.replace(" ", "").replace("-", "")
    ok = len(digits) in CODE_LENGTHS and digits.isascii() and digits.isdigit()
    return digits if ok else None


def credentials_from_fields(login: str, code: str) -> Credentials | None:
    """What the chat widget's masked form sends: same rules as typed text, one field each."""
    login, digits = login.strip(), _normal_code(code.strip())
    if not is_valid_login(login) or digits is None:
        return None
    return Credentials(login, digits)


def _own_text(text: str) -> str:
    """What the client wrote: quoted lines and an Outlook-style original are the past, not this."""
    lines: list[str] = []
    for line in text[:MAX_SCAN_CHARS].splitlines():
        if _ORIGINAL_RE.fullmatch(line.strip()):
            break
        if not line.lstrip().startswith(">"):
            lines.append(line)
    return "\n".join(lines)


def _ends_word(text: str, end: int) -> bool:
    """A value running on into letters ("jańko", "123456a") was not what we read."""
    return end == len(text) or not (text[end].isalnum() or text[end] == "_")


def _ends_code(text: str, end: int) -> bool:
    """Digits after a separator ("123 4567") make the code ambiguous: none beats a guess."""
    following = text[end : end + 2]
    return _ends_word(text, end) and not (following[:1] in (" ", "-") and following[1:].isdigit())


def _first_login(text: str) -> str | None:
    for match in _LOGIN_RE.finditer(text):
        if not _ends_word(text, match.end()):
            continue
        login = match["login"].rstrip(".")  # a full stop ends the sentence, not the login
        if is_valid_login(login) and login.lower() not in _NOT_A_LOGIN:
            return login
    return None


def _first_code(text: str) -> str | None:
    for match in _CODE_RE.finditer(text):
        if _ends_code(text, match.end()):
            return _normal_code(match["code"])
    return None


_THREE_DIGITS = re.compile(r"[0-9]{3}")


def parse_credentials(text: str) -> Credentials | None:
    """Labels and values on one line each ("Login: x" / "Kod: 123 456"), in any order; the first
    well-formed login and the first well-formed code count, so a later quote cannot override."""
    if _THREE_DIGITS.search(text) is None:
        return None  # every code has at least three digits in a row: most chat lines stop here
    own = _own_text(text)
    login = _first_login(own)
    if login is None:
        return None
    code = _first_code(own)
    return None if code is None else Credentials(login, code)
