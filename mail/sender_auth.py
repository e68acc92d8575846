"""Whether the From domain of a mail is authenticated: read from the Authentication-Results
our own MTA added (RFC 8601), or by checking a DKIM signature ourselves. It is recorded as
evidence and a policy may demand it, but a code still decides: a forged sender with a right code
is still a right code, and a genuine sender without one is still unverified."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from email import policy
from email.parser import BytesHeaderParser
from enum import StrEnum

import dkim
from dkim.dnsplug import get_txt

from mail.parse import header_end

log = logging.getLogger(__name__)
MAX_SIGNATURES = 5

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z][a-z0-9-]*)\s*(?:/\s*\d+)?\s*=\s*([a-z]+)", re.I)
_PROPERTY = re.compile(r"\b([a-z]+)\.([a-z][a-z0-9-]*)\s*=\s*\"?([^\s\";]+)", re.I)
# Registrable domains under these suffixes are one label deeper (a small list, enough for the
# providers' own markets; anything else falls back to the last two labels).
_TWO_LABEL_SUFFIXES = frozenset(
    {
        "com.pl", "net.pl", "org.pl", "edu.pl", "gov.pl", "waw.pl", "krakow.pl", "biz.pl",
        "info.pl", "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "co.nz", "co.jp",
        "com.br", "com.de", "co.za",
    }
)  # fmt: skip


class SenderAuth(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NONE = "none"


def organizational_domain(domain: str) -> str:
    labels = domain.lower().strip(".").split(".")
    depth = 3 if ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES else 2
    return ".".join(labels[-depth:])


def aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment (DMARC): the same organisational domain."""
    if not signer or not from_domain:
        return False
    return organizational_domain(signer) == organizational_domain(from_domain)


def from_authentication_results(
    raw: bytes, trusted_authserv_id: str, from_domain: str
) -> SenderAuth:
    """Only the topmost Authentication-Results fields count, and only while they carry our
    MTA's authserv-id: our MTA prepends its own, so any copy below it came with the mail."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[: header_end(raw)])
    verdicts: list[SenderAuth] = []
    for value in headers.get_all("Authentication-Results", []) or []:
        text = _without_comments(str(value)).lower()
        authserv, _, results = text.partition(";")
        if authserv.split()[:1] != [trusted_authserv_id.lower()]:
            break
        verdicts.extend(_verdict(result, from_domain) for result in results.split(";"))
    if SenderAuth.PASS in verdicts:
        return SenderAuth.PASS
    return SenderAuth.FAIL if SenderAuth.FAIL in verdicts else SenderAuth.NONE


def _without_comments(value: str) -> str:
    """Comments nest (RFC 5322), so the innermost ones go first, a bounded number of times."""
    for _ in range(10):
        value, removed = _COMMENT.subn(" ", value)
        if not removed:
            break
    return value


def _verdict(result: str, from_domain: str) -> SenderAuth:
    found = _RESULT.match(result)
    if found is None:
        return SenderAuth.NONE
    method, outcome = found.group(1).lower(), found.group(2).lower()
    properties = {
        f"{ptype.lower()}.{name.lower()}": value.lower().rpartition("@")[2]
        for ptype, name, value in _PROPERTY.findall(result)
    }
    domain = {
        "dmarc": properties.get("header.from", ""),
        "dkim": properties.get("header.d") or properties.get("header.i", ""),
        "spf": properties.get("smtp.mailfrom", ""),
    }.get(method)
    if domain is None or not aligned(domain, from_domain):
        return SenderAuth.NONE
    if outcome == "pass":
        return SenderAuth.PASS
    if outcome in ("fail", "permerror", "softfail") and method in ("dmarc", "dkim"):
        return SenderAuth.FAIL
    return SenderAuth.NONE


DnsLookup = Callable[..., bytes | None]


def verify_dkim(raw: bytes, from_domain: str, dnsfunc: DnsLookup | None = None) -> SenderAuth:
    """A DKIM signature of the From domain's organisation that covers the From field.
    Blocking (DNS): run it in a thread."""
    if not from_domain:
        return SenderAuth.NONE
    try:
        checker = dkim.DKIM(raw, minkey=1024)
    except Exception as exc:  # dkimpy refuses a header section it cannot split into fields
        log.info("DKIM: message unreadable: %s", type(exc).__name__)
        return SenderAuth.NONE
    signatures = [name for name, _ in checker.headers if name.lower() == b"dkim-signature"]
    failed = False
    for index in range(min(len(signatures), MAX_SIGNATURES)):
        checker.domain, checker.include_headers = None, ()
        try:
            valid = checker.verify(idx=index, dnsfunc=dnsfunc or get_txt)
        except Exception as exc:  # dkimpy raises for malformed signatures and keys
            log.info("DKIM signature %s unusable: %s", index, type(exc).__name__)
            valid = False
        signer = (checker.domain or b"").decode("ascii", "replace")
        covers_from = b"from" in (checker.include_headers or ())
        if not aligned(signer, from_domain) or not covers_from:
            continue
        if valid:
            return SenderAuth.PASS
        failed = True
    return SenderAuth.FAIL if failed else SenderAuth.NONE
