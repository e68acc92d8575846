"""Masks one-time codes and national identifiers before client text is written anywhere.

Transcripts, logs, staff views and records outlive the conversation, and a code or a PESEL in
them is a leak. So this fails closed: every standalone number of six digits or more is masked
whatever it looks like, and so is whatever follows a code label, while domains, service ids,
dates and short numbers stay readable for staff. Masking is idempotent, so text may safely pass
through here more than once.
"""

from __future__ import annotations

import re
import unicodedata

from gateway.identifiers import SEPARATORS, WORD_START, identify_run, iter_digit_runs
from policies.normalize import without_invisible

MIN_MASKED_DIGITS = 6
CODE_PLACEHOLDER = "[code]"
NUMBER_PLACEHOLDER = "[number]"

_H = "[ \t\u00a0]"
_SEP = f"[{re.escape(SEPARATORS)}]"
# After a code label, digit groups split by up to three separators are one value ("1234 - 5678").
_DIGIT_VALUE = rf"\d(?:{_SEP}{{0,3}}\d)*\S*"
# A code's two halves apart ("1234 / 5678", "482  135"): six or eight digits in all.
_SPLIT_CODE = re.compile(rf"(?<![\w.,/-])(\d{{3,4}}){_SEP}{{2,3}}(\d{{3,4}})(?![\w]|[.,/-]\d)")
_CODE_LABEL = (
    rf"(?:(?:one[- ]?time|verification|2fa|sms){_H}+)?"
    r"(?:kod(?:u|em|y)?|code|passcode|otp|totp|pin(?:u|em)?"
    r"|has(?:ło|lo|ła|la|łem|lem)|password)"
    rf"(?:{_H}+(?:jednorazow[^\W\d_]{{0,3}}|weryfikacyjn[^\W\d_]{{0,3}}|z{_H}+panelu|sms|totp|2fa))?"
)
# After "kod:" or "code=" anything is the secret; after a bare space only a token with a digit is,
# so that prose such as "kod nie działa" stays readable while "pin 1234" does not.
_CODE_RE = re.compile(
    rf"(?=[ovskcpth2]){WORD_START}{_CODE_LABEL}(?:"
    rf"{_H}*[:=]{_H}*(?P<any>{_DIGIT_VALUE}|\S+)"
    rf"|{_H}+(?:(?:to|is|jest|brzmi){_H}+)?(?P<digit>{_DIGIT_VALUE}|[^\s\d]*\d\S*)"
    rf"|(?P<glued>{_DIGIT_VALUE}))",
    re.IGNORECASE,
)


# Digits that are not decimal digits to a regular expression (superscript, subscript, circled,
# parenthesised: Unicode "No"), read as the digits they show, so "⁴⁸²¹³⁵" is a number too.
_SHOWN_DIGIT_RANGES = (
    (0x00B2, 0x00B3), (0x00B9, 0x00B9), (0x2070, 0x2079), (0x2080, 0x2089),
    (0x2460, 0x2468), (0x2474, 0x247C), (0x2488, 0x2490), (0x24EA, 0x24EA),
    (0x24F5, 0x24FD), (0x2776, 0x277E), (0x2780, 0x2788), (0x278A, 0x2792),
)  # fmt: skip
_SHOWN_DIGITS = {
    code: str(unicodedata.digit(chr(code)))
    for first, last in _SHOWN_DIGIT_RANGES
    for code in range(first, last + 1)
    if unicodedata.digit(chr(code), None) is not None
}
# A code spelled out in words, English or Polish: six digits or more in a row.
_DIGIT_WORD = (
    r"(?:(?:twen|thir|for|fif|six|seven|eigh|nine)ty|(?:thir|four|fif|six|seven|eigh|nine)teen"
    r"|ten|eleven|twelve|zero|one|two|three|four|five|six|seven|eight|nine|oh"
    r"|(?:jede|dwa|trzy|czter|pięt|piet|szes|siedem|osiem|dziewięt|dziewiet)na[sś]cie"
    r"|dziesi[eę][cć]|dwadzie[sś]cia|trzydzie[sś]ci|czterdzie[sś]ci"
    r"|(?:pi[eę][cć]|sze[sś][cć]|siedem|osiem|dziewi[eę][cć])dziesi[aą]t"
    r"|jeden|jedna|dwa|dwie|trzy|cztery|pi[eę][cć]|sze[sś][cć]|siedem|osiem|dziewi[eę][cć])"
)
_SPELLED_CODE = re.compile(
    rf"(?<![^\W\d_]){_DIGIT_WORD}(?:[\s,;.-]{{1,3}}{_DIGIT_WORD}){{5,}}(?![^\W\d_])",
    re.IGNORECASE,
)
# While a code is expected, every group of two digits or more is masked: a code may come in
# pieces over several lines ("1933", then "1963") or framed by anything ("48 | 21 | 35 | 70").
_ANY_DIGITS = re.compile(r"(?P<ticket>(?<![\w-])T-[A-Z0-9]{6}(?![\w-]))|\d{2,}")


# Letters that pass for digits in a number ("44O514O1359", "4405 l4Ol 359"): in a word of
# digits and such letters alone, they are read as the digits they imitate, so the number is
# masked as what it is ("hello2" is a word, not a number).
LOOK_ALIKE_NUMBER = re.compile(r"(?<![^\W\d_])[\dOoОоlI|]*\d[\dOoОоlI|]*(?![^\W\d_])")
_AS_DIGITS = str.maketrans({"O": "0", "o": "0", "О": "0", "о": "0", "l": "1", "I": "1", "|": "1"})
# What dresses a digit up without changing it: the emoji presentation selector and the
# enclosing keycap ("4️⃣").
_DIGIT_DRESSING = re.compile("(?<=\\d)[\ufe0f\u20e3]+")


# A ticket ("T-ZIQ3I0") is ours and stands as it is: its letters are letters.
_TICKET_OR_LOOK_ALIKE = re.compile(
    rf"(?P<ticket>(?<![\w-])T-[A-Z0-9]{{6}}(?![\w-]))|{LOOK_ALIKE_NUMBER.pattern}"
)


def as_digits(match: re.Match[str]) -> str:
    return match.group().translate(_AS_DIGITS)


def _as_digits_but_tickets(match: re.Match[str]) -> str:
    return match.group() if match["ticket"] else as_digits(match)


def _mask_code(match: re.Match[str]) -> str:
    for group in ("any", "digit", "glued"):
        start = match.start(group)
        if start != -1:
            return match.string[match.start() : start] + CODE_PLACEHOLDER
    return match.group()


def _mask_split_codes(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        digits = len(match[1]) + len(match[2])
        return NUMBER_PLACEHOLDER if digits in (6, 8) else match.group()

    return _SPLIT_CODE.sub(mask, text)


def _mask_numbers(text: str) -> str:
    parts: list[str] = []
    done = 0
    for run in iter_digit_runs(text, masking=True):
        if len(run.digits) < MIN_MASKED_DIGITS:
            continue
        found = identify_run(run)
        start, end = run.span
        placeholder = f"[{found.kind.name}]" if found and found.valid else NUMBER_PLACEHOLDER
        parts += [text[done:start], placeholder]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def redact(text: str, *, expecting_code: bool = False) -> str:
    """Codes after a label go first, so "kod: 123 456" reads as a code, not as a number.
    Invisible characters go before anything: a zero-width space inside a code ("482\u200b135")
    must not split it into two harmless-looking halves. `expecting_code`: the client was just
    asked for a code, so no piece of one may stand (see _ANY_DIGITS)."""
    if not text.isascii():
        text = _DIGIT_DRESSING.sub("", without_invisible(text).translate(_SHOWN_DIGITS))
    text = _TICKET_OR_LOOK_ALIKE.sub(_as_digits_but_tickets, text)
    masked = _mask_split_codes(_mask_numbers(_CODE_RE.sub(_mask_code, text)))
    masked = _SPELLED_CODE.sub(CODE_PLACEHOLDER, masked)
    return _ANY_DIGITS.sub(_mask_piece, masked) if expecting_code else masked


def _mask_piece(match: re.Match[str]) -> str:
    return match.group() if match["ticket"] else NUMBER_PLACEHOLDER
