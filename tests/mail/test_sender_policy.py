"""A policy that wants e-mail requests only from an authenticated sender: the verdict of the
trusted MTA decides whether the code is even looked at, and lands in the record either way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.mail.conftest import STAFF, MailGateway, email
from tests.mail.test_smtp_flow import record_of

POLICIES = Path(__file__).resolve().parents[2] / "policies" / "default"
TRUSTED = "mx.example.net"
PASSED = f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example.com; spf=pass\r\n"
FORGED = (
    "Authentication-Results: mx.attacker.example; dkim=pass header.d=example.com\r\n"
    f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example.com\r\n"
)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    strict = tmp_path / "policies"
    shutil.copytree(POLICIES, strict)
    domains = strict / "domains.toml"
    text = domains.read_text()
    marker = 'name = "dns_change"\n'
    assert marker in text
    domains.write_text(
        text.replace(marker, marker + "duties = { require_sender_authentication = true }\n")
    )
    return replace(
        settings,
        policies={"path": str(strict)},
        smtp={"port": 0, "trusted_authserv_id": TRUSTED},
    )


async def test_only_an_authenticated_sender_gets_the_code_checked(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    code = totp_for(JAN_SECRET).at(clock.now())
    body = f"Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"

    await mail_gateway.send(email("DNS", body, headers=FORGED, message_id="<forged@example.com>"))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    refusal = mail_gateway.to("jan@example.com")[0].get_content()
    assert "could not be authenticated" in refusal
    assert mail_gateway.to(STAFF) == []

    # The same code, not spent by the refused mail, now from an authenticated sender.
    await mail_gateway.send(email("DNS", body, headers=PASSED, message_id="<real@example.com>"))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    record = record_of(mail_gateway.to(STAFF)[0])
    assert record["sender_authentication"] == "pass"
    assert record["verification"] == "verified"


async def test_a_signed_from_does_not_authenticate_someone_elses_envelope(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    """The attacker signs their own From; the envelope (the client) is the victim's."""
    code = totp_for(JAN_SECRET).at(clock.now())
    body = f"Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"
    signed = f"Authentication-Results: {TRUSTED}; dkim=pass header.d=attacker.example\r\n"
    mail = email("DNS", body, sender="me@attacker.example", headers=signed)
    await mail_gateway.send(mail, sender="jan@example.com")
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    assert "could not be authenticated" in mail_gateway.to("jan@example.com")[0].get_content()
    assert mail_gateway.to(STAFF) == []
