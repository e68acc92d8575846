"""Turn free text into comparable words, so patterns need not spell out case and diacritics,
and a disguise does not hide a word.

Clients write "PRZENIEŚĆ", "przeniesc" and "Przenieść" for the same thing; the recogniser and
the pattern compiler both go through :func:`words`, so a pattern written with Polish letters
matches text typed without them and vice versa. An attacker writes "trаnsfеr" with Cyrillic
letters, "tr\u200bansfer" with a zero-width space, "ｔｒａｎｓｆｅｒ", "t r a n s f e r" or
"tr4nsf3r": each character is taken the way Unicode's security mechanisms do (UTS #39: NFKC,
format characters dropped, confusables mapped to their Latin skeleton by ICU), and spaced-out
letters and digits standing in for letters are read as the word they spell.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

import icu

DOMAIN_MARKER = "@domain"
EMAIL_MARKER = "@email"
IP_MARKER = "@ip"
SERVICE_MARKER = "@service"
ACCOUNT_MARKER = "@account"
MARKERS = frozenset({DOMAIN_MARKER, EMAIL_MARKER, IP_MARKER, SERVICE_MARKER, ACCOUNT_MARKER})
TARGET_MARKERS = MARKERS  # what a request can be about or send things to
DESTINATION_MARKERS = frozenset({EMAIL_MARKER, IP_MARKER, ACCOUNT_MARKER})  # where things go

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


def _plain_fold(char: str) -> str:
    # Casefolding can create new combining marks ("İ" → "i̇") and decomposing can create
    # capitals ("ℌ" → "H"), hence the repeated steps.
    folded = _decompose(char).casefold().translate(_STROKED)
    return _decompose(folded).casefold()


_SPOOF = icu.SpoofChecker()


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """One non-ASCII character as the Latin letters it looks like, when it looks like any.

    Compatibility forms first (NFKC: "ｔ" → "t", "ﬁ" → "fi"); what is still not ASCII goes to
    ICU's skeleton one character at a time, so that the ASCII it yields is never remapped
    (the skeleton of "1" is "l")."""
    if unicodedata.category(char) == "Cf":
        return ""  # zero-width spaces and joiners, soft hyphens, bidi controls: invisible
    compatible = unicodedata.normalize("NFKC", char)
    return "".join(part.lower() if part.isascii() else _look_alike(part) for part in compatible)


def _look_alike(char: str) -> str:
    """ICU's skeleton of a lower-case Cyrillic or Greek letter is sometimes a Latin small
    capital ("т" → "ᴛ"), which no folding makes ASCII; its capital's skeleton is a plain
    letter, so the capital is tried next. Lower case first, so that a letter and its capital
    fold alike ("Ì" is not "l"); a character that looks like nothing Latin is only folded."""
    lower = char.lower()
    for candidate in (lower, lower.upper()):
        folded = _plain_fold(_SPOOF.getSkeleton(0, candidate))
        if folded.isascii():
            return folded
    return _plain_fold(char)


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
    """Lower-case, accent- and stroke-free, look-alike-free form of ``text``."""
    return _per_char(text, _fold_char).lower()


def _is_host(labels: list[str]) -> bool:
    top = labels[-1]
    return len(labels) > 1 and all(labels) and 2 <= len(top) <= 24 and top.isalpha()


def _append_parts(token: str, out: list[str]) -> None:
    parts = token.split(".")
    if len(parts) >= _SPELLED_MIN and all(len(part) == 1 for part in parts):
        out.append("".join(parts))  # "a.u.t.h.i.n.f.o"
        return
    for part in parts:
        for char in _JOINERS:
            part = part.replace(char, "")
        if part:
            out.append(part)


_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
_SERVICE_ID = re.compile(r"[a-z]{2,20}-\d{1,12}")
# Digits typed for the letters they look like ("p4ssw0rd", "tr4nsf3r"): read only inside a word,
# between letters, so numbers, ids and "mp3" stay what they are.
_LEET = str.maketrans("0134578", "oieastb")
_LEET_INSIDE = re.compile(r"[a-z]\d+[a-z]")


def _append_token(token: str, out: list[str]) -> None:
    token = token.strip(_EDGES)
    if not token:
        return
    if _IPV4.fullmatch(token):
        out.append(IP_MARKER)
        return
    if _SERVICE_ID.fullmatch(token):
        out.append(SERVICE_MARKER)
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
        if token.isalpha():
            out.append(token)
        elif token.isalnum():
            out.append(_unleet(token))
        else:
            _append_token(token, out)
    if _ACCOUNT.search(text):
        out.append(ACCOUNT_MARKER)
    return _join_spelled(out)


# Where one clause of a message ends and the next begins: sentence and clause punctuation
# (a dot only before a space, so "example.pl" stays whole), and words that start a next step.
_CLAUSE_PUNCTUATION = re.compile(r"[?!;,\n]|\.(?=\s|$)|:(?=\s)")
_CLAUSE_WORDS = frozenset(
    {"then", "afterwards", "also", "additionally", "if", "potem", "nastepnie", "pozniej"}
    | {"takze", "rowniez", "ponadto", "jesli", "jezeli"}
)


def clauses(text: str) -> list[list[str]]:
    """The message's words, clause by clause (see ``words``); empty clauses are left out."""
    out: list[list[str]] = []
    for part in _CLAUSE_PUNCTUATION.split(text):
        clause: list[str] = []
        for word in words(part):
            if word in _CLAUSE_WORDS:
                if clause:
                    out.append(clause)
                clause = []
            else:
                clause.append(word)
        if clause:
            out.append(clause)
    return out


# A bank account number (NRB or IBAN, grouped or not): 26 digits after an optional country.
_ACCOUNT = re.compile(r"(?<![\w])(?:[A-Za-z]{2}\s?)?\d{2}(?:[ -]?\d{4}){6}(?!\d)")
_SPELLED_MIN = 3


def _unleet(token: str) -> str:
    return token.translate(_LEET) if _LEET_INSIDE.search(token) else token


def _join_spelled(out: list[str]) -> list[str]:
    """Three single letters or more in a row ("t r a n s f e r") are the word they spell; a
    one-letter word before them ("add a c n a m e") may or may not be part of it: both count."""
    singles = 0
    for word in out:
        singles = singles + 1 if len(word) == 1 else 0
        if singles == _SPELLED_MIN:
            break
    else:
        return out
    joined: list[str] = []
    run: list[str] = []
    for word in [*out, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if len(run) >= _SPELLED_MIN:
            joined.append("".join(run))
            if len(run) > _SPELLED_MIN:
                joined.append("".join(run[1:]))
        else:
            joined.extend(run)
        run = []
        if word:
            joined.append(word)
    return joined


# Format characters (Unicode category Cf) that people and attackers put inside words and numbers:
# every one in the Basic Multilingual Plane, and the tag characters beyond it.
_INVISIBLE = re.compile(
    "["
    + "".join(re.escape(chr(c)) for c in range(0x10000) if unicodedata.category(chr(c)) == "Cf")
    + "\U000e0001-\U000e007f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a]"
)


def without_invisible(text: str) -> str:
    """The text without the characters nobody sees (zero-width spaces and joiners, soft
    hyphens, bidi controls), which would split a word, a name or a code unseen."""
    return _INVISIBLE.sub("", text) if not text.isascii() else text
