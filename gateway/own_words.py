"""What the gateway itself wrote, recognised in a client's reply that quotes it.

Everything a mail client shows is classified, quoted text too; but a reply quotes our
auto-reply, whose text names the held request and shows "Login:" and "Code:" lines, and our own
words are not a request of the client's. Each mail we send keeps the fingerprints of its runs of
words (four words in a row), so a reply to it can drop the runs it quotes, however the client's
mail program re-wrapped or re-quoted them; what the client added between them stays.
"""

from __future__ import annotations

import hashlib
import re

RUN = 4
MAX_FINGERPRINTS = 4000
_PUNCTUATION = "\"'()[]{}<>,;:!?*."
_QUOTE_MARKS = re.compile(r"^>+$")


def _key(token: str) -> str:
    return token.strip(_PUNCTUATION).casefold()


def _fingerprint(words: list[str]) -> str:
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:16]


def fingerprints(text: str) -> list[str]:
    """The runs of words of a text the gateway wrote."""
    words = [key for key in map(_key, text.split()) if key]
    found = {_fingerprint(words[i : i + RUN]) for i in range(len(words) - RUN + 1)}
    return sorted(found)[:MAX_FINGERPRINTS]


def without_ours(text: str, ours: set[str]) -> str:
    """The text with every run of words the gateway wrote taken out."""
    if not ours:
        return text
    lines: list[list[str]] = []
    tokens: list[tuple[int, str, str]] = []  # line, token, key
    for number, line in enumerate(text.splitlines()):
        lines.append([])
        for token in line.split():
            if _QUOTE_MARKS.match(token):
                continue
            key = _key(token)
            if key:
                tokens.append((number, token, key))
            else:
                lines[number].append(token)
    covered = [False] * len(tokens)
    keys = [key for _, _, key in tokens]
    for start in range(len(tokens) - RUN + 1):
        if _fingerprint(keys[start : start + RUN]) in ours:
            covered[start : start + RUN] = [True] * RUN
    for (number, token, _), ours_too in zip(tokens, covered, strict=True):
        if not ours_too:
            lines[number].append(token)
    return "\n".join(" ".join(line) for line in lines if line).strip()
