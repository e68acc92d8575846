"""Plain text from an HTML-only mail, made safely: a small tokenizer (no rendering, no fetching),
scripts, styles and quoted blocks dropped, entities decoded, output bounded.

Not `html.parser`: on unterminated markup (`<a <a <a …`, `<!--<!--…`) it rescans the rest of the
document at every `<`, so 90 KB of such HTML took minutes. Here every construct is found with one
forward search, and one that does not end runs to the end of the document, as in a browser: the
time is linear in the input."""

from __future__ import annotations

import re
from collections import Counter
from html import unescape

# Their content is dropped; the raw-text ones hold no markup, so they end at their end tag only.
_RAW_TEXT = frozenset({"script", "style", "title", "xmp", "iframe", "noembed", "noframes"})
_SKIPPED = frozenset({"head", "blockquote", "template", "noscript"})
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"}
    | {"pre", "dl", "dt", "dd", "section", "article", "header", "footer", "address", "center"}
)
_CELLS = frozenset({"td", "th"})
_MARKUP = re.compile(r"<[a-zA-Z!?/]")  # a "<" before anything else is text
_TAG_NAME = re.compile(r"(/?)([a-zA-Z][^\s/>\x00]*)")
_TAG_STOP = re.compile(r""">|=[ \t\r\n\f]*(["'])""")  # the end of a tag, or a quoted value
_RAW_TEXT_END = {name: re.compile(f"</{name}", re.IGNORECASE) for name in _RAW_TEXT}
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str, limit: int = 256 * 1024, *, quotes: bool = False) -> str:
    """The text a reader sees; `quotes` keeps quoted blocks (everything a mail client shows is
    classified, quoted text too), else they are dropped (the client's own words)."""
    collector = _Collector(limit, skipped=_SKIPPED - {"blockquote"} if quotes else _SKIPPED)
    html = html[: limit * 4]
    position, end = 0, len(html)
    while position < end and not collector.full:
        found = _MARKUP.search(html, position)
        opening = found.start() if found else end
        collector.text(html[position:opening])
        if opening == end:
            break
        position = _markup(html, opening, collector)
    lines = (_SPACES.sub(" ", line).strip() for line in collector.result().splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()[:limit]


class _Collector:
    def __init__(self, limit: int, skipped: frozenset[str] = _SKIPPED) -> None:
        self._limit = limit
        self._skipped = skipped
        self._size = 0
        self._parts: list[str] = []
        self._open: list[str] = []  # the skipped elements we are inside, innermost last
        self._counts: Counter[str] = Counter()  # so that closing an unopened one costs nothing

    @property
    def full(self) -> bool:
        return self._size >= self._limit

    def text(self, data: str) -> None:
        if data and not self._open:
            self._add(unescape(data))

    def start(self, tag: str, self_closing: bool) -> None:
        if tag == "body":  # the head ends where the body starts, whether closed or not
            if self._counts["head"]:
                self._open = [name for name in self._open if name != "head"]
                self._counts["head"] = 0
        elif tag in self._skipped:
            if not self_closing:
                self._open.append(tag)
                self._counts[tag] += 1
        elif tag in _BLOCKS or tag == "blockquote":
            self._add("\n")
        elif tag in _CELLS:
            self._add(" ")

    def end(self, tag: str) -> None:
        if tag in self._skipped:
            if self._counts[tag]:  # close it and whatever was left open inside it
                while True:
                    name = self._open.pop()
                    self._counts[name] -= 1
                    if name == tag:
                        break
        elif tag in _BLOCKS or tag == "blockquote":
            self._add("\n")

    def result(self) -> str:
        return "".join(self._parts)

    def _add(self, text: str) -> None:
        if not self._open and self._size < self._limit:
            self._parts.append(text)
            self._size += len(text)


def _markup(html: str, opening: int, collector: _Collector) -> int:
    """Reads the markup at `opening` (a "<"); returns where the text after it starts."""
    end = len(html)
    if html.startswith("<!--", opening):
        close = html.find("-->", opening + 4)
        return end if close < 0 else close + 3
    if html.startswith(("<!", "<?"), opening):  # doctype, CDATA, processing instruction
        close = html.find(">", opening + 2)
        return end if close < 0 else close + 1
    name = _TAG_NAME.match(html, opening + 1)
    if name is None:  # "</>" or "</ …>": a bogus comment
        close = html.find(">", opening + 2)
        return end if close < 0 else close + 1
    tag = name.group(2).lower()
    after = _tag_end(html, name.end())
    if name.group(1):
        collector.end(tag)
        return after
    collector.start(tag, self_closing=html[after - 2 : after] == "/>")
    if tag in _RAW_TEXT:
        closing = _RAW_TEXT_END[tag].search(html, after)
        return end if closing is None else closing.start()
    return after


def _tag_end(html: str, position: int) -> int:
    """Just past the ">" that ends a tag, skipping quoted attribute values; the end of the
    document if the tag never ends (a browser drops such a tag with everything after it)."""
    while True:
        stop = _TAG_STOP.search(html, position)
        if stop is None:
            return len(html)
        if stop.group() == ">":
            return stop.end()
        close = html.find(stop.group(1), stop.end())
        if close < 0:
            return len(html)
        position = close + 1
