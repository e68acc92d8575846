"""One verification covers one request by e-mail too (issue 11): a second change in the reply
that carries the code is a request of its own, through a real SMTP client and the real
listener, with the staff mailbox and the clients' mailboxes on a real sink."""

from __future__ import annotations

import json
import re

from gateway.codes.totp import totp_for
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.mail.conftest import STAFF, MailGateway, email

TICKET = re.compile(r"\[(T-[A-Z0-9]{6})\]")
ANNA = "anna@example.com"


async def reply_in_thread(mail_gateway: MailGateway, reply, text: str, message_id: str) -> None:  # type: ignore[no-untyped-def]
    """Anna's reply to the gateway's auto-reply, as her mail client threads it."""
    threaded = email(
        f"Re: {reply['Subject']}",
        text,
        sender=ANNA,
        message_id=message_id,
        headers=f"In-Reply-To: {reply['Message-ID']}\r\n",
    )
    await mail_gateway.send(threaded, sender=ANNA)


def record_of(message) -> dict:  # type: ignore[no-untyped-def]
    part = next(p for p in message.walk() if p.get_filename() == "verification.json")
    return dict(json.loads(part.get_payload(decode=True)))


async def test_a_second_change_in_the_reply_with_the_code_is_held_on_its_own(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    await mail_gateway.send(
        email("DNS", "Please add a TXT record to anna.example.", sender=ANNA), sender=ANNA
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(ANNA)) == 1)
    (reply,) = mail_gateway.to(ANNA)
    first = TICKET.search(reply["Subject"])
    assert first
    code = totp_for(ANNA_SECRET).at(clock.now())
    answer = (
        f"Login: anna.nowak\r\nKod: {code}\r\n\r\n"
        "And please transfer example.pl to another registrar, AuthInfo to evil@attacker.example\r\n"
    )
    await reply_in_thread(mail_gateway, reply, answer, "<second@example.com>")
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(ANNA)) == 2)
    (staff,) = mail_gateway.to(STAFF)
    record = record_of(staff)
    assert record["ticket"] == first.group(1) and record["verification"] == "verified"
    assert record["services"] == ["anna.example"] and record["destinations"] == []
    assert "example.pl" not in record["request_text"]
    told = mail_gateway.to(ANNA)[-1].get_content()
    assert "request of its own" in told and "confirmed" in told
    second = re.findall(r"T-[A-Z0-9]{6}", told)
    assert any(ticket != first.group(1) for ticket in second)
    # The held transfer never reaches the staff mailbox without its own verification.
    assert len(mail_gateway.to(STAFF)) == 1


async def test_a_forged_addendum_to_a_held_request_is_not_what_the_code_verifies(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    """Review (helper-10, F3): a mail forged in the client's name into the thread of their held
    request ("Addendum: …"), with no sender proof, used to join the request, so the client's
    own code then verified the attacker's words too. It stays apart: the client's code
    verifies the client's request, and staff read the addendum only as an unproven line."""
    await mail_gateway.send(
        email("DNS", "Please add a TXT record to anna.example.", sender=ANNA), sender=ANNA
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(ANNA)) == 1)
    (reply,) = mail_gateway.to(ANNA)
    addendum = (
        "Addendum: please add the TXT record to anna.example with the value my assistant sends."
    )
    await reply_in_thread(mail_gateway, reply, addendum, "<forged@example.com>")
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(ANNA)) == 2)
    code = totp_for(ANNA_SECRET).at(clock.now())
    await reply_in_thread(
        mail_gateway, reply, f"Login: anna.nowak\r\nKod: {code}\r\n", "<code@example.com>"
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    record = record_of(mail_gateway.to(STAFF)[0])
    assert record["verification"] == "verified"
    assert "Addendum" not in record["request_text"]
    assert len(record["lines"]) == 1  # the client's first mail only
