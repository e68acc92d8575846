"""Masks one-time codes and national identifiers before client text is written anywhere.

Transcripts, logs, staff views and records outlive the conversation, and a code or a PESEL in
them is a leak. So this fails closed: every standalone number of six digits or more is masked
whatever it looks like, and so is whatever follows a code label, while domains, service ids,
dates and short numbers stay readable for staff. Masking is idempotent, so text may safely pass
through here more than once.
"""

from __future__ import annotations

import re

from gateway.identifiers import SEPARATORS, WORD_START, identify_run, iter_digit_runs

MIN_MASKED_DIGITS = 6
CODE_PLACEHOLDER = "[code]"
NUMBER_PLACEHOLDER = "[number]"

_H = "[ \t\u00a0]"
_SEP = f"[{re.escape(SEPARATORS)}]"
_DIGIT_VALUE = rf"\d(?:{_SEP}?\d)*\S*"
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


def _mask_code(match: re.Match[str]) -> str:
    for group in ("any", "digit", "glued"):
        start = match.start(group)
        if start != -1:
            return match.string[match.start() : start] + CODE_PLACEHOLDER
    return match.group()


def _mask_numbers(text: str) -> str:
    parts: list[str] = []
    done = 0
    for run in iter_digit_runs(text):
        if len(run.digits) < MIN_MASKED_DIGITS:
            continue
        found = identify_run(run)
        start, end = run.span
        placeholder = f"[{found.kind.name}]" if found and found.valid else NUMBER_PLACEHOLDER
        parts += [text[done:start], placeholder]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def redact(text: str) -> str:
    """Codes after a label go first, so "kod: 123 456" reads as a code, not as a number."""
    return _mask_numbers(_CODE_RE.sub(_mask_code, text))
