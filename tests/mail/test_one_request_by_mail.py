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
    await mail_gateway.send(
        email(
            f"Re: {reply['Subject']}",
            answer,
            sender=ANNA,
            message_id="<second@example.com>",
            headers=f"In-Reply-To: {reply['Message-ID']}\r\n",
        ),
        sender=ANNA,
    )
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
