"""Find the line of a key or value in a policy file, since ``tomllib`` keeps no positions.

An operator fixing a policy needs "intents.toml:42", not "intent #7"; these searches are
heuristics over the raw text, confined to the block of the intent concerned, and fall back to
the start of that block when the text is written in some unusual but valid TOML form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_INTENT_HEADER = re.compile(r"^\s*\[\[\s*intent\s*\]\]")

Span = tuple[int, int]
"""Half-open range of 0-based line indexes."""


class SourceMap:
    """Line lookups over one policy file's text."""

    __slots__ = ("_intent_starts", "_lines")

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._intent_starts = [
            index for index, line in enumerate(self._lines) if _INTENT_HEADER.match(line)
        ]

    @property
    def whole(self) -> Span:
        return (0, len(self._lines))

    @property
    def last_line(self) -> int:
        return max(len(self._lines), 1)

    def intent_span(self, index: int) -> Span:
        """Lines of the ``index``-th ``[[intent]]`` block, or the whole file if not found."""
        if index >= len(self._intent_starts):
            return self.whole
        start = self._intent_starts[index]
        following = self._intent_starts[index + 1 : index + 2]
        return (start, following[0] if following else len(self._lines))

    def language_span(self, code: str) -> Span:
        header = re.compile(rf"\[\s*language\s*\.\s*[\"']?{re.escape(code)}[\"']?\s*\]")
        dotted = re.compile(rf"\blanguage\s*\.\s*[\"']?{re.escape(code)}\b")
        start = self._first(header, self.whole) or self._first(dotted, self.whole)
        if start is None:
            return self.whole
        return (start - 1, len(self._lines))

    def start(self, span: Span) -> int:
        """1-based line number where a span begins."""
        return min(span[0] + 1, self.last_line)

    def key(self, key: str, span: Span) -> int:
        """Line of ``key = …`` (also inside an inline table) or of a ``[….key]`` header."""
        escaped = re.escape(key)
        pattern = re.compile(
            rf"(?:^|[\s{{,.]|[\"']){escaped}[\"']?\s*=|\[[^\]]*\b{escaped}[\"']?\s*\]"
        )
        return self._first(pattern, span) or self.start(span)

    def value(self, value: str, span: Span, after_key: str | None = None) -> int:
        """Line where the quoted ``value`` is written, optionally only after ``after_key``."""
        if after_key is not None:
            span = (self.key(after_key, span) - 1, span[1])
        quoted = re.compile(rf"[\"']{re.escape(value)}[\"']")
        return self._first(quoted, span) or self._first_plain(value, span) or self.start(span)

    def _code_lines(self, span: Span) -> Iterator[tuple[int, str]]:
        # Comments are skipped: the bundled files quote example keys in them.
        for index in range(span[0], min(span[1], len(self._lines))):
            line = self._lines[index]
            if not line.lstrip().startswith("#"):
                yield index + 1, line

    def _first(self, pattern: re.Pattern[str], span: Span) -> int | None:
        return next(
            (number for number, line in self._code_lines(span) if pattern.search(line)), None
        )

    def _first_plain(self, needle: str, span: Span) -> int | None:
        return next((number for number, line in self._code_lines(span) if needle in line), None)
