"""The e-mail channel end to end: a real SMTP client against the real listener, and a real
aiosmtpd sink receiving the auto-replies and the staff copies."""

from __future__ import annotations

import asyncio
import json
import re

import aiosmtplib
import pytest
from sqlalchemy import func, select

from gateway.codes.totp import totp_for
from gateway.staff.desk import StaffDesk
from gateway.storage.models import InboundMail, OutboxItem, TranscriptMessage
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.mail.conftest import STAFF, MailGateway, email

TICKET = re.compile(r"\[(T-[A-Z0-9]{6})\]")


def record_of(message) -> dict:  # type: ignore[no-untyped-def]
    part = next(p for p in message.walk() if p.get_filename() == "verification.json")
    return json.loads(part.get_payload(decode=True))


async def test_relay_is_refused(mail_gateway: MailGateway) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await mail_gateway.send(email("hi", "hello"), recipients=("victim@elsewhere.example",))
    assert refused.value.recipients[0].code == 550


async def test_oversize_is_refused(mail_gateway: MailGateway) -> None:
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await mail_gateway.send(email("big", "x" * 300_000))
    assert refused.value.code == 552


async def test_request_auto_reply_then_code_by_reply(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    await mail_gateway.send(email("Transfer", "Please transfer example.pl to another registrar."))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    (reply,) = mail_gateway.to("jan@example.com")
    ticket = TICKET.search(reply["Subject"])
    assert ticket, reply["Subject"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<first@example.com>"
    text = reply.get_content()
    assert "example.pl" in text and "Login:" in text
    assert mail_gateway.sink.envelopes[0].mail_from in ("", "<>")
    assert mail_gateway.to(STAFF) == []

    code = totp_for(JAN_SECRET).at(clock.now())
    answer = f"Login: jan.kowalski\r\nKod: {code}\r\n\r\n> {text.splitlines()[0]}\r\n> Login: x\r\n"
    await mail_gateway.send(
        email(
            f"Re: {reply['Subject']}",
            answer,
            message_id="<second@example.com>",
            headers=f"In-Reply-To: {reply['Message-ID']}\r\n",
        )
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert staff["Subject"].startswith(f"[{ticket.group(1)}]")
    assert staff["X-Gateway-Verification"] == "verified"
    record = record_of(staff)
    assert record["channel"] == "email" and record["login"] == "jan.kowalski"
    assert record["client"] == "jan@example.com"
    original = next(p for p in staff.walk() if p.get_content_type() == "message/rfc822")
    assert "Please transfer example.pl" in original.as_string()
    async with mail_gateway.live.core.sessions() as session:
        lines = await session.scalars(select(TranscriptMessage.text))
        assert all(code not in line for line in lines)


async def test_a_code_in_the_first_message_forwards_at_once(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    code = totp_for(JAN_SECRET).at(clock.now())
    body = f"Please change the DNS of example.pl.\r\n\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"
    await mail_gateway.send(email("DNS", body))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert record_of(staff)["method"] == "totp"
    # The original is attached for staff, its code masked: staff never see one.
    original = next(p for p in staff.walk() if p.get_content_type() == "message/rfc822")
    assert "Code: [code]" in original.get_payload()[0].get_content()
    assert code not in mail_gateway.sink.envelopes[0].original_content.decode()
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) >= 1)
    assert "confirmed" in mail_gateway.to("jan@example.com")[-1].get_content()


async def test_a_wrong_code_gets_a_reply_saying_what_to_do(mail_gateway: MailGateway) -> None:
    body = "Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: 000000\r\n"
    await mail_gateway.send(email("DNS", body))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    text = mail_gateway.to("jan@example.com")[0].get_content()
    assert "could not confirm" in text and "Attempts left: 4" in text
    assert mail_gateway.to(STAFF) == []


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("", ""),
        ("jan@example.com", "Auto-Submitted: auto-replied\r\n"),
        ("jan@example.com", "List-Id: <news.example.com>\r\n"),
        ("jan@example.com", "Precedence: bulk\r\n"),
    ],
)
async def test_no_auto_reply_to_bounces_lists_or_automatic_mail(
    mail_gateway: MailGateway, sender: str, headers: str
) -> None:
    await mail_gateway.send(
        email("Transfer", "Please transfer example.pl.", headers=headers), sender=sender
    )
    await wait_until_processed(mail_gateway, 1)
    await wait_until_delivered(mail_gateway)
    assert mail_gateway.to("jan@example.com") == []


async def wait_until_processed(mail_gateway: MailGateway, count: int) -> None:
    async def processed() -> int:
        async with mail_gateway.live.core.sessions() as session:
            query = select(func.count(InboundMail.id))
            return int(await session.scalar(query) or 0)

    for _ in range(300):
        if await processed() >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("mail was not processed")


async def wait_until_delivered(mail_gateway: MailGateway) -> None:
    for _ in range(300):
        async with mail_gateway.live.core.sessions() as session:
            query = select(func.count(OutboxItem.id)).where(OutboxItem.delivered_at.is_(None))
            if not await session.scalar(query):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not drain")


async def test_a_replayed_code_is_refused(mail_gateway: MailGateway, clock: MovableClock) -> None:
    code = totp_for(JAN_SECRET).at(clock.now())
    body = f"Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"
    await mail_gateway.send(email("DNS", body))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    await mail_gateway.send(
        email("DNS again", body.replace("DNS", "nameservers"), message_id="<another@example.com>")
    )
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 2)
    assert "could not confirm" in mail_gateway.to("jan@example.com")[-1].get_content()
    assert len(mail_gateway.to(STAFF)) == 1


async def test_smtp_smuggling_gives_one_message(mail_gateway: MailGateway) -> None:
    smuggled = (
        "From: a@example.com\r\nTo: support@example.net\r\nSubject: one\r\n\r\nfirst\n.\r\n"
        "MAIL FROM:<evil@example.com>\r\nRCPT TO:<support@example.net>\r\nDATA\r\n"
        "From: evil@example.com\r\nSubject: two\r\n\r\nsecond\r\n"
    )
    await mail_gateway.send(smuggled.encode())
    await wait_until_processed(mail_gateway, 1)
    async with mail_gateway.live.core.sessions() as session:
        stored = (await session.scalars(select(InboundMail))).all()
    assert len(stored) == 1
    assert b"MAIL FROM:<evil@example.com>" in stored[0].raw


async def test_staff_replies_reach_the_client_by_mail_in_the_thread(
    mail_gateway: MailGateway,
) -> None:
    await mail_gateway.send(email("Hosting", "Do you offer hosting with PHP 8.3?"))
    await wait_until_processed(mail_gateway, 1)
    async with mail_gateway.live.core.sessions() as session:
        conversation = await session.scalar(select(InboundMail.conversation_id))
    assert conversation is not None
    desk = StaffDesk.of(mail_gateway.live.core)
    await desk.reply("anna", conversation, "Yes, PHP 8.3 is available on every plan.")
    await mail_gateway.wait_for(
        lambda _: any(
            "PHP 8.3 is available" in m.get_content() for m in mail_gateway.to("jan@example.com")
        )
    )
    staff_reply = next(
        m for m in mail_gateway.to("jan@example.com") if "PHP 8.3 is available" in m.get_content()
    )
    assert staff_reply["Auto-Submitted"] is None  # a person wrote it
    assert "<first@example.com>" in staff_reply["References"]
    assert staff_reply["Subject"].endswith("Re: Hosting")

    await desk.request_verification("anna", conversation)
    await mail_gateway.wait_for(
        lambda _: any(
            m["Auto-Submitted"] == "auto-replied" and TICKET.search(m["Subject"])
            for m in mail_gateway.to("jan@example.com")
            if "comes from the holder" in m.get_content()
        )
    )


async def test_mail_that_cannot_be_read_reaches_staff_marked_for_a_human(
    mail_gateway: MailGateway,
) -> None:
    broken = (
        "From: Jan Kowalski <jan@example.com>\r\nTo: support@example.net\r\n"
        "Subject: =?x-no-such-charset?q?Pilne?=\r\nMessage-ID: <broken@example.com>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        "Prosz\xea o kontakt\r\n"  # no closing boundary either
    ).encode("latin-1")
    await mail_gateway.send(broken)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert staff["X-Gateway-Verification"] == "not-required"
    assert "needs a human" in staff["Subject"]
    original = next(p for p in staff.walk() if p.get_content_type() == "message/rfc822")
    assert b"x-no-such-charset" in original.as_bytes()


async def test_a_polish_mail_gets_a_polish_answer(mail_gateway: MailGateway) -> None:
    body = "Dzień dobry, proszę o przeniesienie domeny example.pl do innego rejestratora."
    await mail_gateway.send(email("Transfer domeny", body))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    (reply,) = mail_gateway.to("jan@example.com")
    text = reply.get_content()
    assert "example.pl" in text and "Kod:" in text
    assert reply["Content-Language"] == "pl"


async def test_five_wrong_codes_by_mail_lock_even_a_right_one_out(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    await mail_gateway.send(email("DNS", "Please change the DNS of example.pl."))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    subject = mail_gateway.to("jan@example.com")[0]["Subject"]
    for attempt in range(5):
        wrong = f"Login: jan.kowalski\r\nCode: {100000 + attempt}\r\n"
        await mail_gateway.send(email(subject, wrong, message_id=f"<wrong{attempt}@example.com>"))
        await mail_gateway.wait_for(
            lambda _, n=attempt: len(mail_gateway.to("jan@example.com")) >= n + 2
        )
    right = f"Login: jan.kowalski\r\nCode: {totp_for(JAN_SECRET).at(clock.now())}\r\n"
    await mail_gateway.send(email(subject, right, message_id="<right@example.com>"))
    await wait_until_processed(mail_gateway, 7)
    await wait_until_delivered(mail_gateway)
    assert mail_gateway.to(STAFF) == []
    replies = [m for m in mail_gateway.to("jan@example.com") if m["In-Reply-To"]]
    assert len(replies) == 7  # the request, five failures, and the right code refused
    assert "Attempts left: 1" in replies[4].get_content()
    assert "can no longer be confirmed by e-mail" in replies[-1].get_content()
    notices = [m for m in mail_gateway.to("jan@example.com") if not m["In-Reply-To"]]
    assert len(notices) == 1  # the lockout notice to the account's registered address
