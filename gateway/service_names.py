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
# linear: a failed attempt is never retried from inside the same token.
_CANDIDATE_RE = re.compile(
    rf"(?:(?<=://)|(?<![\w.@/\\-]))(?P<domain>(?:{_LABEL}\.)+{_TLD}){_END}"
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
    names: dict[str, None] = {}
    for match in _CANDIDATE_RE.finditer(text[:MAX_SCAN_CHARS]):
        name = _candidate(match)
        if name:
            names.setdefault(name, None)
    return list(names)
