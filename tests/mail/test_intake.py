"""Intake limits end to end (issue 15): a real SMTP client floods the real listener; the flood
waits with 451 4.7.1 before anything is taken, everyone else's mail still comes in, and what
was accepted is all processed."""

from __future__ import annotations

import aiosmtplib
import pytest

from gateway.config import ConfigError, Settings, load_settings, replace
from mail.intake import BACKLOGGED, FLOODING, Intake, sender_key
from tests.mail.conftest import (
    MailGateway,
    email,
    mail_gateway,  # noqa: F401 - the live gateway with its SMTP
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, smtp={"sender_rate": "3/1m"})


async def send(gateway: MailGateway, sender: str, number: int) -> str:
    message = email(
        f"Question {number}",
        "What are your opening hours?",
        sender=sender,
        message_id=f"<q{number}.{sender}>",
    )
    try:
        await gateway.send(message, sender=sender)
    except aiosmtplib.SMTPSenderRefused as refused:
        return f"{refused.code} {refused.message}"
    return "250"


async def test_one_sender_flooding_waits_and_nobody_else_does(
    mail_gateway: MailGateway,  # noqa: F811
) -> None:
    answers = [await send(mail_gateway, "flood@spam.example", n) for n in range(5)]
    assert answers[:3] == ["250"] * 3
    assert all(a.startswith("451 4.7.1") for a in answers[3:]), answers
    assert await send(mail_gateway, "jan@example.com", 9) == "250"
    assert await send(mail_gateway, "FLOOD@spam.example", 10) != "250"  # case does not help
    # Everything accepted was read and answered: nothing taken is lost.
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("flood@spam.example")) == 3)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)


def test_a_sender_counts_by_where_it_comes_from() -> None:
    """A forger flooding as jan@example.com from their own server does not make jan's own
    server wait; bounces count by their server too."""
    assert sender_key("", "192.0.2.1") != sender_key("", "192.0.2.2")
    assert sender_key("jan@example.com", "203.0.113.9") != sender_key(
        "jan@example.com", "192.0.2.1"
    )
    assert sender_key(" Jan@Example.com ", "192.0.2.1") == sender_key(
        "jan@example.com", "192.0.2.1"
    )


def test_a_full_backlog_makes_everyone_wait_and_a_rate_refills() -> None:
    now = [0.0]
    backlog = [0]
    smtp = Settings().smtp
    intake = Intake(
        replace(Settings(), smtp={"sender_rate": "2/10s", "max_backlog": 5}).smtp,
        lambda: backlog[0],
        clock=lambda: now[0],
    )
    assert intake.refusal("192.0.2.1", "a@x.example") is None
    assert intake.refusal("192.0.2.1", "a@x.example") is None
    assert intake.refusal("192.0.2.1", "a@x.example") == FLOODING
    now[0] += 5  # one more allowed per 5 s
    assert intake.refusal("192.0.2.1", "a@x.example") is None
    backlog[0] = 5
    assert intake.refusal("192.0.2.9", "b@y.example") == BACKLOGGED
    assert smtp.sender_rate == "30/1m" and smtp.peer_rate == "" and smtp.max_backlog == 20000


@pytest.mark.parametrize(
    ("key", "value"), [("SENDER_RATE", "lots"), ("PEER_RATE", "0/1m"), ("MAX_BACKLOG", "-1")]
)
def test_bad_intake_settings_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"smtp.{key.lower()}"):
        load_settings(None, {f"GATEWAY_SMTP_{key}": value})


def test_a_connecting_address_past_its_rate_waits_whoever_it_sends_as() -> None:
    """Off by default (behind the provider's MTA every mail comes from it); set, one address
    cannot get round the sender limit by changing the sender."""
    assert Settings().smtp.peer_rate == ""
    intake = Intake(
        replace(Settings(), smtp={"peer_rate": "2/10s"}).smtp, lambda: 0, clock=lambda: 0.0
    )
    answers = [intake.refusal("198.51.100.4", f"s{n}@x.example") for n in range(3)]
    assert answers == [None, None, FLOODING]
    assert intake.refusal("198.51.100.5", "s9@x.example") is None
