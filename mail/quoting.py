"""What the client wrote in this mail, without what they quoted or signed: a reply quotes our
auto-reply, whose text shows "Login:" and "Code:" lines and names the request, and neither may be
read as the client's own words."""

from __future__ import annotations

import re

# "On Mon, 1 Jan 2026 at 10:00, Support <support@example.net> wrote:" and its Polish forms.
_ATTRIBUTION = re.compile(
    r"^\s*(on\b.{0,200}\bwrote|w dniu\b.{0,200}\b(pisze|napisa[łl](a|\(a\))?)"
    r"|.{0,200}\b(napisa[łl](a|\(a\))?|pisze))\s*:\s*$",
    re.IGNORECASE,
)
# Outlook and friends: a separator line, or a header block of the forwarded/quoted mail.
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|oryginalna wiadomo[śs][ćc]|forwarded message"
    r"|wiadomo[śs][ćc] przekazana|wiadomo[śs][ćc] oryginalna)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_QUOTED_FROM = re.compile(r"^\s*\*?(from|od)\s*:", re.IGNORECASE)
_QUOTED_FIELD = re.compile(
    r"^\s*\*?(sent|wys[łl]ano|date|data|to|do|subject|temat|cc|dw)\s*:", re.IGNORECASE
)
_SIGNATURE = re.compile(r"^-- ?$")
# Clients wrap a long attribution: "On Mon, …, Support <" / "support@example.net> wrote:".
_ATTRIBUTION_START = re.compile(r"^\s*(on|w dniu)\b", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"\b(wrote|napisa[łl](a|\(a\))?|pisze)\s*:\s*$", re.IGNORECASE)
# A marker line is short; the patterns are tried on the stripped line only up to this length, so
# a long line (of spaces, say) costs no backtracking.
_MARKER_CHARS = 400


def strip_quoted(text: str) -> str:
    """The text above the first quote marker, with `>` lines and the signature removed."""
    return split_quoted(text)[0]


def split_quoted(text: str) -> tuple[str, str]:
    """The client's own words, and the rest: what they quoted or signed. The rest is not the
    client's words (no credentials are read from it), but a mail client shows it, so it is
    classified too ("as agreed, please proceed with the below")."""
    kept: list[str] = []
    rest: list[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        marker = line.strip()
        if len(marker) <= _MARKER_CHARS:
            if _SIGNATURE.match(line) or _SEPARATOR.match(marker) or _ATTRIBUTION.match(marker):
                rest.extend(lines[index + 1 :])  # the marker itself is the mail program's
                break
            if _QUOTED_FROM.match(marker) and _starts_header_block(lines, index):
                rest.extend(lines[index:])
                break
            if _ATTRIBUTION_END.search(marker) and _wrapped_attribution(kept, marker):
                kept.pop()
                rest.extend(lines[index + 1 :])
                break
        if marker.startswith(">"):
            rest.append(line)
            continue
        kept.append(line)
    return "\n".join(kept).strip(), "\n".join(rest).strip()


def _starts_header_block(lines: list[str], index: int) -> bool:
    """`From: …` followed within three lines by `Sent:`, `To:`… is a quoted mail, not prose."""
    return any(
        _QUOTED_FIELD.match(line.strip()[:_MARKER_CHARS]) for line in lines[index + 1 : index + 4]
    )


def _wrapped_attribution(kept: list[str], line: str) -> bool:
    """This line ends an attribution begun on the line before it."""
    if not kept:
        return False
    joined = f"{kept[-1].strip()} {line}"
    return len(joined) <= _MARKER_CHARS and bool(
        _ATTRIBUTION_START.match(joined) and _ATTRIBUTION.match(joined)
    )
