"""Contract section 11 by e-mail: the auto-reply says the number, the Client Panel approves or
denies, and the client, staff and the registered contact hear of it by mail."""

from __future__ import annotations

import json
import re
from email.message import Message

import pytest

from gateway.config import Settings, replace
from tests.approvals.panel import approvals, approve, deny, other_number
from tests.chat.conftest import PANEL_KEY
from tests.mail.conftest import (
    STAFF,
    MailGateway,
    email,
    mail_gateway,  # noqa: F401 - the live gateway with its SMTP
)

TICKET = re.compile(r"\[(T-[A-Z0-9]{6})\]")
NUMBER = re.compile(r"\b(?:number|numer) (\d+)\b")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, panel={"api_key": PANEL_KEY})


def record_of(message: Message) -> dict:  # type: ignore[type-arg]
    part = next(p for p in message.walk() if p.get_filename() == "verification.json")
    return json.loads(part.get_payload(decode=True))  # type: ignore[arg-type,no-any-return]


async def asked_by_mail(mail_gateway: MailGateway) -> tuple[str, str, str]:  # noqa: F811
    """A request by mail, its auto-reply read: (ticket, number, the panel's challenge id)."""
    await mail_gateway.send(email("Transfer", "Please transfer example.pl to another registrar."))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    (reply,) = mail_gateway.to("jan@example.com")
    ticket = TICKET.search(reply["Subject"])
    number = NUMBER.search(reply.get_content())  # type: ignore[attr-defined]
    assert ticket and number, reply.get_content()  # type: ignore[attr-defined]
    status, body = await approvals(mail_gateway.live.url, "jan.kowalski")
    assert status == 200
    [offer] = body["approvals"]
    assert offer["ticket"] == ticket.group(1) and offer["channel"] == "email"
    assert offer["requester"] == {"channel": "email", "address": "jan@example.com"}
    return ticket.group(1), number.group(1), offer["id"]


async def test_the_number_from_the_auto_reply_approves_it(
    mail_gateway: MailGateway,  # noqa: F811
) -> None:
    ticket, number, challenge = await asked_by_mail(mail_gateway)
    url = mail_gateway.live.url
    assert await approve(url, challenge, "jan.kowalski", other_number(number)) == (
        409,
        {"status": "wrong_number", "attempts_left": 2},
    )
    assert mail_gateway.to(STAFF) == []
    assert await approve(url, challenge, "jan.kowalski", number) == (200, {"status": "approved"})
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert staff["X-Gateway-Verification"] == "verified"
    record = record_of(staff)
    assert record["ticket"] == ticket and record["method"] == "panel_approval"
    assert record["channel"] == "email" and record["challenge"] == challenge
    assert record["failed_attempts"] == 1
    # The client hears in the thread that it was confirmed.
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) >= 2)
    confirmed = mail_gateway.to("jan@example.com")[-1]
    assert ticket in confirmed["Subject"]


async def test_deny_by_mail_stops_it_and_tells_everyone(
    mail_gateway: MailGateway,  # noqa: F811
) -> None:
    ticket, _, challenge = await asked_by_mail(mail_gateway)
    assert await deny(mail_gateway.live.url, challenge, "jan.kowalski") == (
        200,
        {"status": "denied"},
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert staff["X-Gateway-Verification"] == "denied-by-client"
    assert record_of(staff)["verification"] == "denied_by_client"
    # The thread is told (the requester) and the registered contact (the same address here).
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) >= 3)
    subjects = [m["Subject"] for m in mail_gateway.to("jan@example.com")]
    assert all(ticket in subject for subject in subjects)
