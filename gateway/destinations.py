"""Where a request would send something: the e-mail and IP addresses, registrars and bank
accounts it names.

A verified request covers what it was about and where it said things go; a later line that
names somewhere else ("send it to evil@attacker.example", "point it at 203.0.113.66", "to
GoDaddy") is a request of its own, whatever the recogniser made of its words, and the client
is told each one before giving a code. Host names are service names (`gateway.service_names`)
and are compared as such; a registrar known by a domain (home.pl) is one of those.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from gateway.redaction import redact
from policies.normalize import without_invisible

MAX_SCAN_CHARS = 64 * 1024
MAX_DESTINATIONS = 20

_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}(?![\w-])"
)
# A bank account number (NRB or IBAN, grouped or not): kept as its last four digits only, which
# is how banks show one and all a client needs to recognise it.
_ACCOUNT_RE = re.compile(
    r"(?<!\w)(?:[A-Za-z]{2}\s?)?\d{2}(?:[ -]?\d{4}){5}[ -]?\d{0,4}(\d{4})(?!\d)"
)
# Registrars known by a name rather than a domain, as clients write them.
# fmt: off
REGISTRARS = (
    "OVHcloud", "OVH", "GoDaddy", "Namecheap", "Cloudflare", "Gandi", "IONOS", "Hostinger",
    "Porkbun", "Dynadot", "Squarespace", "Google Domains", "Tucows", "Enom",
    "Network Solutions", "Hetzner", "Aftermarket", "cyber_Folks", "cyberFolks", "Zenbox",
    "Hekko", "Hostido", "dhosting", "Name.com", "Nazwa.pl", "home.pl", "Domeny.tv",
)
# fmt: on
_REGISTRAR_RE = re.compile(
    r"(?<![\w.-])("
    + "|".join(re.escape(name).replace(r"\ ", r"\s+") for name in REGISTRARS)
    + r")(?![\w-]|\.\w)",
    re.IGNORECASE,
)
_REGISTRAR_NAMES = {name.lower(): name for name in REGISTRARS}
# "to the registrar EvilReg", "do rejestratora EvilReg": a registrar we do not know by name.
_NAMED_REGISTRAR_RE = re.compile(
    r"(?<!\w)(?:registrar|rejestrator\w{0,3})\s+(?:\w+\s+)?(?P<name>[A-Z][\w-]{1,40})"
)
_URL_RE = re.compile(r"(?<![\w@])(?:https?|ftp)://[^\s<>\"'\])]{1,500}", re.IGNORECASE)
# A phone number to send something to: international form, or nine digits after a word for one.
_PHONE_RE = re.compile(
    r"(?<![\w+])\+\d{2}[ -]?\d{3}[ -]?\d{3}[ -]?(\d{3})(?!\d)"
    r"|(?<!\w)(?:numer|number|nr|tel|telefon|phone|sms)\W{1,3}\d{3}[ -]?\d{3}[ -]?(\d{3})(?!\d)",
    re.IGNORECASE,
)
# Spellings that hide an address from a reader's eye but not from a mail client or a person.
_AT_WORD = re.compile(r"(?<!\s)\s*[(\[{<]\s*(?:at|ma[lł]pa|@)\s*[)\]}>]\s*|%40", re.IGNORECASE)
_DOT_WORD = re.compile(r"(?<!\s)\s*[(\[{<]\s*(?:dot|kropka|\.)\s*[)\]}>]\s*", re.IGNORECASE)
# An address broken over two lines at its "@" or a dot ("evil@attacker.\nexample"), as a mail
# client's wrapping or a sender's hand leaves it: a reader joins it.
_BROKEN_AT = re.compile(
    r"(?<=[\w.@])[ \t]*\r?\n[ \t]*(?=[.@]\w)|(?<=\w[.@])[ \t]*\r?\n[ \t]*(?=\w)"
)
# A handle on a messenger or a social network ("Telegram @evilhacker"): somewhere to send to.
_HANDLE_RE = re.compile(r"(?<![\w.@+-])@(?P<name>[A-Za-z_][\w]{2,31})(?![\w@-]|\.\w)")
HANDLE_PREFIX = "handle:@"
# An address spaced out ("evil @ attacker . example") or spelled in words ("evil at attacker
# dot example"): the words only where a dot word follows, so "meet at noon" stays prose.
_SPACED_AT = re.compile(r"(?<=\w) {1,3}@ {1,3}(?=\w)")
_SPACED_DOT = re.compile(r"(?<=\w) {1,3}\. {1,3}(?=\w)")
_WORDED_ADDRESS = re.compile(
    r"(?<![\w.@])(?P<box>[\w.+-]{1,64}) +(?:at|ma[lł]pa) +"
    r"(?P<domain>[\w-]{1,63}(?: +(?:dot|kropka) +[\w-]{1,63})+)(?![\w@])",
    re.IGNORECASE,
)
_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\ufe52": "."})
ACCOUNT_PREFIX = "account:…"
REGISTRAR_PREFIX = "registrar:"
PHONE_PREFIX = "phone:…"
URL_PREFIX = "url:"
_IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3} ?\. ?){3}\d{1,3}(?! ?\.? ?\d)")
_HEX_IPV4_RE = re.compile(r"(?<![\w.])0x[0-9A-Fa-f]{8}(?![\w.])")
_IPV6_RE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _addresses(text: str) -> list[str]:
    found: list[str] = []
    for match in _IPV4_RE.finditer(text):
        octets = [int(octet) for octet in match.group().split(".")]  # "192.000.002.066" too
        if all(octet <= 255 for octet in octets):
            found.append(".".join(map(str, octets)))
    for match in _HEX_IPV4_RE.finditer(text):  # "0x01020304", which ping and browsers take
        found.append(str(ipaddress.IPv4Address(int(match.group(), 16))))
    for match in _IPV6_RE.finditer(text):
        try:
            found.append(str(ipaddress.ip_address(match.group())))
        except ValueError:
            continue  # "12:30:45": shaped like one, not one
    return found


def _plain(text: str) -> str:
    """The text as a reader takes it in: invisible characters gone, compatibility forms
    ("＠", "１９２", "﹫") folded, "(at)", "%40", "(dot)", "[.]" and ideographic full stops read
    as written, an address broken over two lines joined."""
    text = unicodedata.normalize("NFKC", without_invisible(text)).translate(_DOTS)
    text = _WORDED_ADDRESS.sub(_worded_address, text)
    text = _SPACED_AT.sub("@", text)
    if "@" in text:
        text = _SPACED_DOT.sub(".", text)
    return _BROKEN_AT.sub("", _DOT_WORD.sub(".", _AT_WORD.sub("@", text)))


def _worded_address(match: re.Match[str]) -> str:
    domain = re.sub(r" +(?:dot|kropka) +", ".", match["domain"], flags=re.IGNORECASE)
    return f"{match['box']}@{domain}"


def find_destinations(text: str) -> tuple[str, ...]:
    """E-mail addresses (lower case), IP addresses (canonical form), registrars
    ("registrar:OVH") and bank accounts ("account:…2874"), each once, masked as everything
    staff read is (an address shaped like a code shows as one)."""
    text = _plain(text[:MAX_SCAN_CHARS])
    found = [match.group().lower() for match in _EMAIL_RE.finditer(text)]
    found += _addresses(text)
    found += [URL_PREFIX + match.group().rstrip(".,;:!?") for match in _URL_RE.finditer(text)]
    found += [PHONE_PREFIX + (match[1] or match[2]) for match in _PHONE_RE.finditer(text)]
    found += [
        REGISTRAR_PREFIX + _REGISTRAR_NAMES[" ".join(match[1].lower().split())]
        for match in _REGISTRAR_RE.finditer(text)
    ]
    found += [
        REGISTRAR_PREFIX + match["name"]
        for match in _NAMED_REGISTRAR_RE.finditer(text)
        if match["name"].lower() not in _REGISTRAR_NAMES
    ]
    found += [ACCOUNT_PREFIX + match[1] for match in _ACCOUNT_RE.finditer(text)]
    found += [HANDLE_PREFIX + match["name"].lower() for match in _HANDLE_RE.finditer(text)]
    return tuple(dict.fromkeys(redact(found) for found in found))[:MAX_DESTINATIONS]
