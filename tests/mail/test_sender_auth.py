"""Sender authentication: trusting only our own MTA's Authentication-Results, and checking DKIM
signatures ourselves with real RSA keys. DNS is the one thing faked: `dnsfunc` answers for the
test domains."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest

from mail.sender_auth import (
    MAX_SIGNATURES,
    SenderAuth,
    aligned,
    from_authentication_results,
    organizational_domain,
    verify_dkim,
)

OURS = "mx.example.net"
SELECTOR = b"sel"


def message(*fields: str, body: str = "Please transfer example.pl.\r\n") -> bytes:
    head = [
        "From: Jan Kowalski <jan@example.pl>",
        "To: support@example.net",
        "Subject: Domain transfer",
        *fields,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


# -- Authentication-Results --------------------------------------------------------------------


def results(*values: str) -> bytes:
    return message(*(f"Authentication-Results: {value}" for value in values))


@pytest.mark.parametrize(
    ("value", "from_domain"),
    [
        ("mx.example.net; dkim=pass header.d=example.pl header.s=sel", "example.pl"),
        ("mx.example.net; dkim=pass header.d=mail.example.pl", "example.pl"),
        ("mx.example.net; dkim=pass header.d=example.pl", "support.example.pl"),
        ("mx.example.net; dkim=pass header.i=@example.pl", "example.pl"),
        ("mx.example.net; dkim=pass header.d=firma.com.pl", "firma.com.pl"),
        ("mx.example.net; dkim=pass header.d=mail.firma.com.pl", "biuro.firma.com.pl"),
        ("mx.example.net; dmarc=pass (p=reject) header.from=example.pl", "example.pl"),
        ("mx.example.net; spf=pass smtp.mailfrom=bounces@example.pl", "example.pl"),
        ("mx.example.net 1; dkim=pass header.d=example.pl", "example.pl"),  # with a version
        (
            "mx.example.net; spf=fail smtp.mailfrom=x@evil.example; dkim=pass header.d=example.pl",
            "example.pl",
        ),
        ("mx.example.net;\r\n\tdkim=pass\r\n\theader.d=example.pl", "example.pl"),  # folded
    ],
)
def test_our_mta_saying_pass_for_an_aligned_domain_is_pass(value: str, from_domain: str) -> None:
    assert from_authentication_results(results(value), OURS, from_domain) is SenderAuth.PASS


@pytest.mark.parametrize(
    "value",
    [
        "mx.example.net; dkim=fail header.d=example.pl",
        "mx.example.net; dkim=permerror header.d=example.pl",
        "mx.example.net; dmarc=fail header.from=example.pl",
    ],
)
def test_our_mta_saying_fail_is_fail(value: str) -> None:
    assert from_authentication_results(results(value), OURS, "example.pl") is SenderAuth.FAIL


@pytest.mark.parametrize(
    "value",
    [
        "mx.example.net; dkim=pass header.d=evil.example",  # not the From domain
        "mx.example.net; dkim=pass header.d=example.pl.evil.example",
        "mx.example.net; dkim=pass header.d=other.com.pl",  # a sibling under com.pl
        "mx.example.net; dkim=pass header.d=com.pl",  # the public suffix itself
        "mx.example.net; dkim=fail header.d=evil.example",
        "mx.example.net; spf=fail smtp.mailfrom=jan@example.pl",  # SPF fail is no evidence
        "mx.example.net; dkim=neutral header.d=example.pl",
        "mx.example.net; none",
        "mx.example.net; dkim=pass",  # no domain: nothing to align
    ],
)
def test_what_says_nothing_about_the_from_domain_is_none(value: str) -> None:
    assert from_authentication_results(results(value), OURS, "example.pl") is SenderAuth.NONE


def test_foreign_authserv_id_is_not_trusted() -> None:
    """The attacker's own copy, written before the mail reached us."""
    raw = results("evil.example; dkim=pass header.d=example.pl; dmarc=pass header.from=example.pl")
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.NONE


def test_our_authserv_id_below_a_foreign_one_is_ignored() -> None:
    """Our MTA prepends its field; anything under a foreign one came with the mail."""
    raw = results(
        "relay.elsewhere.example; spf=pass smtp.mailfrom=evil.example",
        "mx.example.net; dkim=pass header.d=example.pl",
    )
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.NONE


def test_forged_pass_under_our_real_fail_stays_fail() -> None:
    raw = results(
        "mx.example.net; dkim=fail header.d=example.pl",
        "relay.elsewhere.example; none",
        "mx.example.net; dkim=pass header.d=example.pl",
    )
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.FAIL


def test_our_pass_above_a_foreign_field_counts() -> None:
    raw = results("mx.example.net; dkim=pass header.d=example.pl", "relay.elsewhere.example; none")
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.PASS


def test_an_authserv_id_that_only_starts_like_ours_is_foreign() -> None:
    raw = results("mx.example.net.evil.example; dkim=pass header.d=example.pl")
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.NONE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "mx.example.net (Postfix; 3.7); dkim=pass (2048-bit key; unprotected) "
            "header.d=example.pl header.s=sel",
            SenderAuth.PASS,
        ),
        # What a comment says is not a property: its header.d must not be read.
        ("mx.example.net; dkim=pass (header.d=example.pl) header.d=evil.example", SenderAuth.NONE),
        # Nested comments are removed whole.
        (
            "mx.example.net; dkim=pass (good (header.d=example.pl) sig) header.d=evil.example",
            SenderAuth.NONE,
        ),
        ("(ours) mx.example.net; dkim=pass header.d=example.pl", SenderAuth.PASS),
    ],
)
def test_comments(value: str, expected: SenderAuth) -> None:
    assert from_authentication_results(results(value), OURS, "example.pl") is expected


def test_case_does_not_matter() -> None:
    raw = results("MX.Example.NET; DKIM=Pass Header.D=Example.PL")
    assert from_authentication_results(raw, "Mx.Example.Net", "EXAMPLE.pl") is SenderAuth.PASS
    raw = results("MX.Example.NET; DMARC=FAIL Header.From=Example.PL")
    assert from_authentication_results(raw, OURS, "example.pl") is SenderAuth.FAIL


def test_no_authentication_results_or_no_from_domain_is_none() -> None:
    assert from_authentication_results(message(), OURS, "example.pl") is SenderAuth.NONE
    raw = results("mx.example.net; dkim=pass header.d=example.pl")
    assert from_authentication_results(raw, OURS, "") is SenderAuth.NONE


@pytest.mark.parametrize(
    ("domain", "organization"),
    [
        ("example.pl", "example.pl"),
        ("a.b.example.pl", "example.pl"),
        ("Mail.Example.PL.", "example.pl"),
        ("firma.com.pl", "firma.com.pl"),
        ("x.firma.com.pl", "firma.com.pl"),
        ("shop.example.co.uk", "example.co.uk"),
        ("pl", "pl"),
    ],
)
def test_organizational_domain(domain: str, organization: str) -> None:
    assert organizational_domain(domain) == organization


def test_alignment() -> None:
    assert aligned("mail.example.pl", "example.pl")
    assert not aligned("example.pl", "example.com")
    assert not aligned("a.com.pl", "b.com.pl")
    assert not aligned("", "example.pl") and not aligned("example.pl", "")


# -- DKIM signatures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    private: bytes  # PEM
    records: dict[bytes, bytes]  # DNS name -> TXT record

    def dns(self, name: bytes, timeout: int = 5) -> bytes | None:
        return self.records.get(name.lower())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make an RSA key")
    folder: Path = tmp_path_factory.mktemp("dkim")
    key = folder / "key.pem"
    subprocess.run([openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        [openssl, "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    domains = [b"example.pl", b"mail.example.pl", b"evil.example"]
    return Keys(key.read_bytes(), {SELECTOR + b"._domainkey." + d + b".": record for d in domains})


def signed(keys: Keys, raw: bytes, domain: bytes = b"example.pl", **options: object) -> bytes:
    headers = options.pop("include_headers", [b"from", b"to", b"subject"])
    signature: bytes = dkim.sign(
        raw, SELECTOR, domain, keys.private, include_headers=headers, **options
    )
    return signature + raw


def signed_without_from(keys: Keys, raw: bytes, domain: bytes = b"example.pl") -> bytes:
    """dkim.sign refuses to leave From unsigned, but a sender's signer need not: this makes such
    a signature the way dkim.sign does, with h=subject:to."""
    signer = dkim.DKIM(raw)
    signer.hasher = hashlib.sha256
    canonical = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    body_hash = base64.b64encode(hashlib.sha256(canonical.canonicalize_body(signer.body)).digest())
    headers = (b"subject", b"to")
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/simple"),
        (b"d", domain),
        (b"s", SELECTOR),
        (b"h", b" : ".join(headers)),
        (b"bh", body_hash),
        (b"b", b"0" * 60),
    ]
    private = dkim.crypto.parse_pem_private_key(keys.private)
    value: bytes = signer.gen_header(fields, headers, canonical, b"DKIM-Signature", private)
    return b"DKIM-Signature: " + value + raw


def test_valid_aligned_signature_covering_from_is_pass(keys: Keys) -> None:
    raw = signed(keys, message())
    assert dkim.verify(raw, dnsfunc=keys.dns)  # the fixture is sound
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.PASS


def test_subdomain_signature_is_aligned(keys: Keys) -> None:
    raw = signed(keys, message(), domain=b"mail.example.pl")
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.PASS


def test_relaxed_canonicalization_survives_refolding(keys: Keys) -> None:
    raw = signed(keys, message(), canonicalize=(b"relaxed", b"relaxed"))
    refolded = raw.replace(b"Subject: Domain transfer", b"Subject:  Domain\r\n transfer")
    assert verify_dkim(refolded, "example.pl", dnsfunc=keys.dns) is SenderAuth.PASS


@pytest.mark.parametrize(
    ("original", "tampered"),
    [
        (b"Please transfer example.pl.", b"Please transfer evil.pl.   "),
        (b"Subject: Domain transfer", b"Subject: Domain deletion"),
        (b"From: Jan Kowalski <jan@example.pl>", b"From: Jan Kowalski <attacker@example.pl>"),
    ],
    ids=["body", "subject", "from"],
)
def test_tampered_mail_is_fail(keys: Keys, original: bytes, tampered: bytes) -> None:
    raw = signed(keys, message()).replace(original, tampered)
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.FAIL


def test_valid_signature_of_another_domain_is_none(keys: Keys) -> None:
    raw = signed(keys, message(), domain=b"evil.example")
    assert dkim.verify(raw, dnsfunc=keys.dns)
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.NONE


def test_valid_signature_not_covering_from_is_none(keys: Keys) -> None:
    """Valid for what it signs, but the From field could have been swapped."""
    raw = signed_without_from(keys, message())
    assert dkim.verify(raw, dnsfunc=keys.dns)  # dkimpy accepts it: the check is ours
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.NONE


def test_no_signature_is_none(keys: Keys) -> None:
    assert verify_dkim(message(), "example.pl", dnsfunc=keys.dns) is SenderAuth.NONE
    assert verify_dkim(signed(keys, message()), "", dnsfunc=keys.dns) is SenderAuth.NONE


def test_an_aligned_signature_after_others_is_found(keys: Keys) -> None:
    foreign = signed(keys, message(), domain=b"evil.example")
    raw = signed(keys, foreign)  # ours on top of the foreign one
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.PASS
    broken = dkim.sign(message(), SELECTOR, b"example.pl", keys.private, include_headers=[b"from"])
    broken = broken.replace(b"bh=", b"bh=AAAA")  # an aligned but broken one first
    assert (
        verify_dkim(broken + signed(keys, message()), "example.pl", dnsfunc=keys.dns)
        is SenderAuth.PASS
    )


def test_only_the_first_signatures_are_checked(keys: Keys) -> None:
    raw = message()
    good = signed(keys, raw)
    for _ in range(MAX_SIGNATURES):
        good = b"DKIM-Signature: v=1; a=rsa-sha256; d=evil.example; s=x; h=from; bh=; b=\r\n" + good
    assert verify_dkim(good, "example.pl", dnsfunc=keys.dns) is SenderAuth.NONE


def no_record(name: bytes, timeout: int = 5) -> bytes | None:
    return None


def raises(name: bytes, timeout: int = 5) -> bytes:
    raise OSError("DNS unreachable")


@pytest.mark.parametrize("dns", [no_record, raises])
def test_missing_key_or_failing_dns_is_not_pass(
    keys: Keys, dns: Callable[..., bytes | None]
) -> None:
    raw = signed(keys, message())
    assert verify_dkim(raw, "example.pl", dnsfunc=dns) is not SenderAuth.PASS


@pytest.mark.parametrize(
    "signature",
    [
        b"DKIM-Signature: garbage",
        b"DKIM-Signature: v=1; d=example.pl",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.pl; s=sel; h=from; bh=!!; b=!!",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.pl; s=sel; h=from; bh=AAAA; b=AAAA; x",
        b"DKIM-Signature: v=9; a=rot13; d=example.pl; s=sel; h=from; bh=AAAA; b=AAAA",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=\xff\xfe; s=\x00; h=from; bh=AAAA; b=AAAA",
        b"DKIM-Signature: " + b"a=b;" * 10_000,
        b"DKIM-Signature:",
    ],
)
def test_malformed_signature_raises_nothing(keys: Keys, signature: bytes) -> None:
    raw = signature + b"\r\n" + message()
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is not SenderAuth.PASS
    assert verify_dkim(raw, "example.pl", dnsfunc=raises) is not SenderAuth.PASS


@pytest.mark.parametrize(
    "raw",
    [
        b"From: jan@example.pl\r\nno colon on this line\r\n\r\nbody",
        b" continuation first\r\nFrom: jan@example.pl\r\n\r\nbody",
        b"",
        b"\x00\xff" * 100,
    ],
)
def test_unreadable_header_section_raises_nothing(keys: Keys, raw: bytes) -> None:
    """dkimpy raises MessageFormatError (or IndexError) while splitting such a header section,
    and that escaped verify_dkim: the mail then failed on every processing attempt."""
    assert verify_dkim(raw, "example.pl", dnsfunc=keys.dns) is SenderAuth.NONE
