"""Turn free text into comparable words, so patterns need not spell out case and diacritics.

Clients write "PRZENIEŚĆ", "przeniesc" and "Przenieść" for the same thing; the recogniser and
the pattern compiler both go through :func:`words`, so a pattern written with Polish letters
matches text typed without them and vice versa.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

DOMAIN_MARKER = "@domain"
EMAIL_MARKER = "@email"
MARKERS = frozenset({DOMAIN_MARKER, EMAIL_MARKER})

# Polish letters are translated directly because that is far cheaper than decomposing, and it
# produces exactly what decomposition + dropping marks would (ł has no decomposition at all).
_POLISH = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")

# Letters that NFKD leaves alone although a reader sees a base letter with a stroke or a
# ligature. Applied after casefolding, so lower case is enough.
_STROKED = str.maketrans(
    {
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ø": "o",
        "ħ": "h",
        "ŧ": "t",
        "ŀ": "l",
        "ı": "i",
        "ĸ": "k",
        "ŋ": "n",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ß": "ss",
        "’": "'",
        "ʼ": "'",
    }
)

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")

# Everything but letters, digits and the four characters that may sit inside an address or a
# word ("jan.kowalski@firma.pl", "e-mail", "don't") separates words. The translation table
# serves ASCII text, which CPython translates at memory speed; the regex serves the rest.
_KEPT = ".@-'"
_ASCII_SEPARATORS = str.maketrans(
    {chr(code): " " for code in range(128) if not chr(code).isalnum() and chr(code) not in _KEPT}
)
_SEPARATORS = re.compile(r"[^\w.@'-]|_")
_JOINERS = "-'"
_EDGES = ".@-'"


def _decompose(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_POLISH))
    return "".join([char for char in decomposed if not unicodedata.combining(char)])


def _fold_char(char: str) -> str:
    # Casefolding can create new combining marks ("İ" → "i̇") and decomposing can create
    # capitals ("ℌ" → "H"), hence the repeated steps.
    folded = _decompose(char).casefold().translate(_STROKED)
    return _decompose(folded).casefold()


def _per_char(text: str, convert: Callable[[str], str]) -> str:
    # Every step works character by character, so converting each distinct non-ASCII
    # character once and replacing it is the same as converting the whole text, at a fraction
    # of the cost. That holds as long as no replacement contains a character that is itself
    # replaced, which is checked rather than assumed.
    if text.isascii():
        return text
    table = {char: convert(char) for char in set(text) if not char.isascii()}
    table = {char: new for char, new in table.items() if new != char}
    if any(char in table for new in table.values() for char in new):
        return "".join([table.get(char, char) for char in text])
    for char, new in table.items():
        text = text.replace(char, new)
    return text


def strip_diacritics(text: str) -> str:
    """Remove accents (and the stroke of ł) but keep case, as a client typing without them."""
    return _per_char(text, _decompose)


def fold(text: str) -> str:
    """Lower-case, accent- and stroke-free form of ``text``."""
    return _per_char(text, _fold_char).lower()


def _is_host(labels: list[str]) -> bool:
    top = labels[-1]
    return len(labels) > 1 and all(labels) and 2 <= len(top) <= 24 and top.isalpha()


def _append_parts(token: str, out: list[str]) -> None:
    for part in token.split("."):
        for char in _JOINERS:
            part = part.replace(char, "")
        if part:
            out.append(part)


def _append_token(token: str, out: list[str]) -> None:
    token = token.strip(_EDGES)
    if not token:
        return
    local, at, host = token.partition("@")
    if at:
        if local and "@" not in host and _is_host(host.split(".")):
            out.append(EMAIL_MARKER)
        for piece in (local, host.replace("@", " ")):
            for part in piece.split():
                _append_parts(part.strip(_EDGES), out)
        return
    if _is_host(token.split(".")):
        out.append(DOMAIN_MARKER)
    _append_parts(token, out)


def words(text: str) -> list[str]:
    """Split text into folded words; e-mail addresses and host names also yield a marker word.

    Hyphens and apostrophes inside a word are dropped ("e-mail" → "email", "auth-info" →
    "authinfo"). The parts of an address are kept as words too, so that "dobry.Proszę" typed
    without a space still yields "prosze". A marker cannot be typed: "@domain" in the text is
    just the word "domain".
    """
    folded = fold(text)
    if folded.isascii():
        tokens = folded.translate(_ASCII_SEPARATORS).split()
    else:
        tokens = _SEPARATORS.sub(" ", folded).split()
    out: list[str] = []
    for token in tokens:
        if token.isalnum():
            out.append(token)
        else:
            _append_token(token, out)
    return out
