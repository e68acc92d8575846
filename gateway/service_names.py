"""Service names (domains and service ids) a client mentions, as candidates to look up.

Naming a service one holds is the preferred way to identify, so the gateway picks candidates
out of free text. A candidate is only a question for the account store, never an answer: noise
costs one failed lookup, while a missed name costs the client a round trip. The noise worth
avoiding is what clearly is not a service: an e-mail address's domain, a URL's path, a file name.

Service ids are recognised in one shape only, letters, a hyphen, digits ("vps-1234",
"hosting-42"), as the Client Panel shows them. "VPS1234" is not taken: without the hyphen it is
indistinguishable from logins, passwords and product names ("jan123", "mp3", "ipv6").
"""

from __future__ import annotations

import re
import unicodedata

from policies.normalize import fold, without_invisible

# A request names its service near the top; a 25 MB e-mail is not searched to its end.
MAX_SCAN_CHARS = 64 * 1024

# Real TLDs among these (.zip, .mov, .sh, .py) are far rarer in support mail than the files.
# fmt: off
FILE_EXTENSIONS = frozenset({
    "pdf", "png", "jpg", "jpeg", "gif", "bmp", "webp", "svg", "tif", "tiff", "heic", "ico",
    "doc", "docx", "odt", "rtf", "txt", "xls", "xlsx", "ods", "csv", "ppt", "pptx", "odp",
    "zip", "rar", "gz", "tgz", "bz2", "xz", "tar", "eml", "msg", "mbox", "html", "htm", "php",
    "js", "css", "json", "xml", "yml", "yaml", "ini", "conf", "cfg", "log", "sql", "sh", "py",
    "bat", "exe", "msi", "dmg", "iso", "apk", "jar", "mp3", "mp4", "mov", "avi", "mkv", "wav",
    "pem", "crt", "cer", "key", "p12", "pfx", "htaccess",
})
# Letters-digits words that are technical terms, not services ("utf-8", "covid-19").
NOT_SERVICE_PREFIXES = frozenset({
    "utf", "iso", "windows", "win", "cp", "koi", "ucs", "covid", "sars", "sha", "md", "rfc",
    "ipv", "mp", "php", "http", "https", "tls", "ssl",
})
# fmt: on

_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_TLD = r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
# A candidate ends where the token ends; "a.pl.b" or "a.pl@x" is a different token.
_END = r"(?![\w@-]|\.[^\W_])"
# The lookbehinds only let a candidate start where a token starts, which also keeps the scan
# linear: a failed attempt is never retried from inside the same token. A slash or backslash
# starts one ("demo.example/example.pl", a URL's path names a domain too: a verification must
# cover it), and so does a hyphen or "@" standing alone (" -example.pl", " @example.pl"); an
# e-mail address's domain is read with the address (gateway.destinations). A label may start
# with "_", as DNS names under a service do ("_dmarc.example.pl").
_CANDIDATE_RE = re.compile(
    rf"(?:(?<=[/\\])|(?<![\w.@/\\-])|(?<=(?<![\w.])[-@]))(?P<domain>(?:_?{_LABEL}\.)+{_TLD}){_END}"
    rf"|(?<![\w.@-])(?P<sid>(?P<prefix>[A-Za-z]{{2,20}})-[0-9]{{1,12}}){_END}",
    re.IGNORECASE,
)
_STRIP = " \t\r\n\v\f\u00a0\u2009\u202f\u3000\ufeff."


def normalize_service_name(name: str) -> str:
    """One spelling per name, so "XN--ZA-6JA4F8N1L.PL" and "zażółć.pl" are the same service."""
    lowered = unicodedata.normalize("NFC", name.strip(_STRIP)).lower()
    if "xn--" not in lowered:
        return lowered
    try:
        labels = [
            label.encode("ascii").decode("idna") if label.startswith("xn--") else label
            for label in lowered.split(".")
        ]
    except ValueError:  # UnicodeError: not a well-formed IDN; keep it as typed
        return lowered
    return unicodedata.normalize("NFC", ".".join(labels)).lower()


def is_service_id(name: str) -> bool:
    """A provider's own id ("vps-1234"), as opposed to a domain: ids have no dot."""
    return "." not in name


def _candidate(match: re.Match[str]) -> str | None:
    if match["sid"] is not None:
        if match["prefix"].lower() in NOT_SERVICE_PREFIXES:
            return None
        return match["sid"].lower()
    domain = match["domain"]
    if domain.rsplit(".", 1)[-1].lower() in FILE_EXTENSIONS:
        return None
    if domain.lower().startswith("www.") and domain.count(".") >= 2:
        domain = domain[4:]  # the web server's name, not the service
    return normalize_service_name(domain)


def find_service_names(text: str) -> list[str]:
    """Names as typed, read through their disguises; a name that mixes scripts ("exаmple.pl"
    with a Cyrillic "а") also yields the Latin name it imitates, so that a request naming it
    is about the real one too (a verification must cover every service a request names)."""
    names: dict[str, None] = {}
    for match in _CANDIDATE_RE.finditer(undisguised(text[:MAX_SCAN_CHARS])):
        name = _candidate(match)
        if name:
            names.setdefault(name, None)
            imitated = _imitated(name)
            if imitated:
                names.setdefault(imitated, None)
    return list(names)


# Dots and hyphens of other forms, and the ways people "defang" a name so it is not a link.
_LOOK_ALIKE_PUNCTUATION = str.maketrans(
    {
        "\u3002": ".",  # ideographic full stop
        "\uff61": ".",
        "\u2024": ".",  # one dot leader
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\ufe63": "-",
    }
)
# Each alternative starts only where a run of spaces starts, so a long run is scanned once.
_DEFANGED_DOT = re.compile(
    r"(?<!\s)\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))\s*|(?<!\s)\s+(?:dot|kropka)\s+"
    r"|(?<=\w) \. (?=\w)",
    re.IGNORECASE,
)
# Single letters apart ("e x a m p l e . p l", "e x a m p l e dot p l"), three spaces or more:
# "o a.a.a.pl" is the word "o" and a name, not "oa.a.a.pl".
_SPELLED = re.compile(r"(?<![\w.])[^\W_](?:[ .][^\W_]){3,}(?![\w.])")
_SPELLED_SPACES = 3


def undisguised(text: str) -> str:
    """The text with what hides a name taken away: compatibility forms (NFKC: "．", "ｅ"),
    invisible characters (zero-width spaces, soft hyphens), other dots and hyphens, defanged
    dots ("example dot pl", "example[.]pl") and names spelled out ("e x a m p l e . p l")."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_LOOK_ALIKE_PUNCTUATION)
        text = without_invisible(text)
    text = _DEFANGED_DOT.sub(".", text)
    return _SPELLED.sub(_join_spelled, text)


def _join_spelled(match: re.Match[str]) -> str:
    run = match.group()
    return run.replace(" ", "") if run.count(" ") >= _SPELLED_SPACES else run


def _imitated(name: str) -> str | None:
    """The Latin name a mixed-script name looks like (UTS #39's skeleton), if it is one."""
    if name.isascii():
        return None
    scripts = {unicodedata.name(char, "?").split()[0] for char in name if char.isalpha()}
    if len(scripts) < 2:
        return None  # "zażółć.pl", "пример.рф": one script, a name in its own right
    latin = fold(name)
    return latin if latin.isascii() and latin != name else None
