"""The mailbox classifies everything staff will read (issue 12), through a real SMTP client, the
real listener and a real SMTP sink for the outbound mail: a change anywhere a mail client shows
text is a held request; a code anywhere is masked before staff see it; a forged reply into a
verified thread is shown apart; auto-replies say exactly what would be done and echo nothing of
a stranger's; and a mail that cannot be processed still reaches staff, for a human."""

from __future__ import annotations

import argparse
import asyncio
import re
from email.message import EmailMessage, Message
from email.policy import SMTP

import pytest
from sqlalchemy import select

from gateway.cli.mail import failed_mail
from gateway.codes.totp import totp_for
from gateway.storage.models import ChangeRequest, InboundMail, TranscriptMessage
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.mail.conftest import STAFF, SUPPORT, MailGateway

JAN = "jan@example.com"
ANNA = "anna@example.com"
TICKET = re.compile(r"\[(T-[A-Z0-9]{6})\]")
TRANSFER = "Please transfer example.pl to another registrar."


def new_mail(subject: str = "Pytanie", sender: str = JAN, message_id: str = "<m1@example.com>"):  # type: ignore[no-untyped-def]
    message = EmailMessage(policy=SMTP)
    message["From"] = f"Jan Kowalski <{sender}>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = "Wed, 02 Dec 2026 12:00:00 +0000"
    return message


def everything_shown(message: Message) -> str:
    """A staff mail as its reader sees it: every header decoded, every part decoded, nested
    originals included."""
    from mail.staff_copy import decoded_header

    seen: list[str] = []
    for part in message.walk():
        seen += [f"{name}: {decoded_header(value)}" for name, value in part.items()]
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                seen.append(payload.decode("utf-8", "replace"))
    return "\n".join(seen)


async def send_and_answer(
    mail_gateway: MailGateway, message: EmailMessage, sender: str = JAN
) -> Message:
    before = len(mail_gateway.to(sender))
    await mail_gateway.send(message.as_bytes(), sender=sender)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(sender)) > before)
    return mail_gateway.to(sender)[-1]


async def request_of(mail_gateway: MailGateway, ticket: str) -> ChangeRequest:
    async with mail_gateway.live.core.sessions() as session:
        request = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
    assert request is not None
    return request


async def a_dns_change(mail_gateway: MailGateway) -> Message:
    """Anna asks for a DNS change; returns the auto-reply asking for her code."""
    request = plain("Please add a TXT record to anna.example.", sender=ANNA)
    return await send_and_answer(mail_gateway, request, ANNA)


async def reply_with_the_code(
    mail_gateway: MailGateway, clock: MovableClock, reply: Message, below: str = ""
) -> None:
    code = totp_for(ANNA_SECRET).at(clock.now())
    answer = plain(
        f"Login: anna.nowak\nKod: {code}\n{below}\n",
        subject=f"Re: {reply['Subject']}",
        sender=ANNA,
        message_id="<m2@example.com>",
    )
    answer["In-Reply-To"] = reply["Message-ID"]
    await send_and_answer(mail_gateway, answer, ANNA)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)


async def assert_held(mail_gateway: MailGateway, message: EmailMessage) -> ChangeRequest:
    reply = await send_and_answer(mail_gateway, message)
    ticket = TICKET.search(reply["Subject"])
    assert ticket, reply["Subject"]
    request = await request_of(mail_gateway, ticket.group(1))
    assert request.status == "held" and request.verification == "unverified", request.intent
    assert "Login:" in reply.get_content()  # the client is asked to prove it
    assert mail_gateway.to(STAFF) == []  # nothing unverified reaches the staff mailbox
    return request


def alternative(plain: str, html: str, **headers: str) -> EmailMessage:
    message = new_mail(**headers)
    message.set_content(plain)
    message.add_alternative(html, subtype="html")
    return message


def with_attachment(
    body: str, data: bytes, filename: str, maintype: str, subtype: str
) -> EmailMessage:
    message = new_mail()
    message.set_content(body)
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def plain(body: str, **headers: str) -> EmailMessage:
    message = new_mail(**headers)
    message.set_content(body)
    return message


def second_part_in_latin2() -> EmailMessage:
    message = plain("Dzień dobry, w załączeniu szczegóły.")
    message.add_attachment(
        "Proszę przenieść domenę example.pl do innego rejestratora.".encode("iso-8859-2"),
        maintype="text",
        subtype="plain",
        disposition="inline",
        params={"charset": "iso-8859-2"},
    )
    return message


HELD = {
    "the subject only": lambda: plain(
        "", subject="Proszę o transfer domeny example.pl do innego rejestratora"
    ),
    "the HTML part of an alternative": lambda: alternative(
        "Dzień dobry, pozdrawiam.", f"<p>Dzień dobry, pozdrawiam.</p><p>{TRANSFER}</p>"
    ),
    "a second inline part in ISO-8859-2": second_part_in_latin2,
    "an attachment's text": lambda: with_attachment(
        "See the attached note.", TRANSFER.encode(), "note.txt", "text", "plain"
    ),
    "an attachment's file name": lambda: with_attachment(
        "See the attached.",
        b"%PDF-1.4",
        "transfer example.pl to another registrar.pdf",
        "application",
        "pdf",
    ),
    "quoted under 'as agreed'": lambda: plain(
        f"As agreed, please proceed with the below.\n\n> {TRANSFER}\n> Thanks\n"
    ),
    "after the signature marker": lambda: plain(f"Thanks\n-- \nJan Kowalski\nPS {TRANSFER}\n"),
    "after an attribution line": lambda: plain(
        f"Yes, do it.\n\nOn Mon, 30 Nov 2026 at 10:00, Jan <{JAN}> wrote:\n{TRANSFER}\n"
    ),
}


@pytest.mark.parametrize("where", list(HELD))
async def test_a_change_anywhere_a_mail_client_shows_text_is_held(
    mail_gateway: MailGateway, where: str
) -> None:
    request = await assert_held(mail_gateway, HELD[where]())
    assert request.intent != "general_question"


async def test_an_unreadable_attachment_on_a_question_is_withheld_from_staff(
    mail_gateway: MailGateway,
) -> None:
    """A question is forwarded, but what the gateway could not read of it is not shown."""
    message = with_attachment(
        "When does example.pl expire?",
        b"\x89PNG transfer it to evil@attacker.example",
        "screen.png",
        "image",
        "png",
    )
    await send_and_answer(mail_gateway, message)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    shown = everything_shown(mail_gateway.to(STAFF)[0])
    assert "withheld from staff: image/png" in shown and "evil@attacker.example" not in shown


async def test_a_code_in_an_encoded_subject_never_reaches_staff(mail_gateway: MailGateway) -> None:
    message = plain("When does example.pl expire?", subject="Pytanie, kod 48433624 - ąę")
    assert b"=?utf-8?" in message.as_bytes()  # encoded word, as mail programs write it
    await send_and_answer(mail_gateway, message)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    shown = everything_shown(mail_gateway.to(STAFF)[0])
    assert "48433624" not in shown and "[code]" in shown
    async with mail_gateway.live.core.sessions() as session:
        lines = list(await session.scalars(select(TranscriptMessage.text)))
    assert all("48433624" not in line for line in lines)


async def test_the_quoted_auto_reply_is_not_read_as_a_request(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    """A reply with the code that quotes our auto-reply verifies its request, and nothing we
    wrote is held as a request of the client's."""
    reply = await a_dns_change(mail_gateway)
    quoted = "\n".join(f"> {line}" for line in reply.get_content().splitlines())
    await reply_with_the_code(mail_gateway, clock, reply, f"\n\nOn Wed, support wrote:\n{quoted}")
    ticket = TICKET.search(reply["Subject"])
    assert ticket
    request = await request_of(mail_gateway, ticket.group(1))
    assert request.verification == "verified"
    async with mail_gateway.live.core.sessions() as session:
        tickets = list(await session.scalars(select(ChangeRequest.ticket)))
    assert tickets == [ticket.group(1)]  # no second request from our own quoted words


@pytest.mark.parametrize(
    ("authentication", "author"),
    [
        (None, "unproven"),  # anyone who knows the ticket: the envelope sender forged
        ("mx.example.net; dkim=fail header.d=example.com", "unproven"),
        ("mx.attacker.example; dkim=pass header.d=example.com", "unproven"),  # not our MTA
        ("mx.example.net; dkim=pass header.d=example.com", "client"),
    ],
)
async def test_a_reply_into_a_verified_thread_is_the_clients_only_with_proof(
    mail_gateway: MailGateway, clock: MovableClock, authentication: str | None, author: str
) -> None:
    reply = await a_dns_change(mail_gateway)
    await reply_with_the_code(mail_gateway, clock, reply)
    forged = plain(
        "Thanks. Our office manager will take it from here.",
        subject=f"Re: {reply['Subject']}",
        sender=ANNA,
        message_id="<m3@example.com>",
    )
    forged["In-Reply-To"] = reply["Message-ID"]
    if authentication is not None:
        forged["Authentication-Results"] = authentication
    await mail_gateway.send(forged.as_bytes(), sender=ANNA)

    async def forged_line() -> TranscriptMessage | None:
        async with mail_gateway.live.core.sessions() as session:
            return await session.scalar(
                select(TranscriptMessage).where(TranscriptMessage.text.contains("office manager"))
            )

    line = None
    for _ in range(300):
        line = await forged_line()
        if line is not None:
            break
        await asyncio.sleep(0.05)
    assert line is not None and line.author == author


async def test_the_auto_reply_names_every_destination_and_echoes_no_subject(
    mail_gateway: MailGateway,
) -> None:
    """Consent phishing: a forged mail in the client's name; the real client is told exactly
    where the AuthInfo would go, and nothing of the forger's subject."""
    message = plain(
        "Proszę o transfer domeny example.pl i wysłanie kodu AuthInfo na adres "
        "evil@attacker.example",
        subject="Coroczna weryfikacja danych - prosimy o potwierdzenie",
    )
    reply = await send_and_answer(mail_gateway, message)
    text = reply.get_content()
    assert "evil@attacker.example" in text and "example.pl" in text
    assert "Coroczna" not in reply["Subject"] and "weryfikacja danych" not in text
    assert "nie podawaj nikomu żadnego kodu: nic nie zostanie zmienione" in text
    assert "[code]" not in text  # the reply's own words are not masked as if a client's


async def test_the_auto_reply_names_the_registrar_and_the_bank_account(
    mail_gateway: MailGateway,
) -> None:
    message = plain(
        "Please transfer example.pl to GoDaddy and refund the balance to "
        "PL61 1090 1014 0000 0712 1981 2874",
        subject="Transfer",
    )
    text = (await send_and_answer(mail_gateway, message)).get_content()
    assert "the registrar GoDaddy" in text and "the bank account ending 2874" in text
    assert "1090" not in text


async def test_broken_mime_reaches_staff_marked_for_a_human(mail_gateway: MailGateway) -> None:
    raw = (
        b"From: Jan <jan@example.com>\r\nTo: support@example.net\r\n"
        b"Subject: =?utf-8?q?broken=ZZ_word?= =?utf-8?b?!!!?=\r\n"
        b"X-Weird: \xff\xfe value\r\nMessage-ID: <b1@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
        b"--zzz\r\nContent-Type: text/plain\r\n\r\nhello \xff there\r\n--zzz--\r\n"
    )
    await mail_gateway.send(raw, sender=JAN)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    assert "needs a human" in staff["Subject"] and staff["X-Gateway-Verification"] == "not-required"


async def test_a_mail_that_cannot_be_processed_goes_to_staff_and_can_be_retried(
    mail_gateway: MailGateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mail.processor as processor

    real = processor.parse_mail

    def failing(raw: bytes):  # type: ignore[no-untyped-def]
        if b"POISON" in raw:
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "a parser bug")
        return real(raw)

    monkeypatch.setattr(processor, "parse_mail", failing)
    await mail_gateway.send(plain("POISON " + TRANSFER).as_bytes(), sender=JAN)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    (staff,) = mail_gateway.to(STAFF)
    shown = everything_shown(staff)
    assert "needs a human" in staff["Subject"] and "POISON" not in shown  # nothing of it read
    assert mail_gateway.to(JAN) == []  # no auto-reply to an unproven sender
    settings = mail_gateway.live.core.settings
    assert await failed_mail(argparse.Namespace(retry=None), settings) == 0
    listed = capsys.readouterr().out
    assert "UnicodeEncodeError" in listed
    async with mail_gateway.live.core.sessions() as session:
        failed = await session.scalar(
            select(InboundMail.id).where(InboundMail.outcome.startswith("failed"))
        )
    monkeypatch.setattr(processor, "parse_mail", real)  # the parser fixed
    assert await failed_mail(argparse.Namespace(retry=failed), settings) == 0
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(JAN)) == 1)
    assert "Login:" in mail_gateway.to(JAN)[0].get_content()  # now read, and held


async def test_a_service_named_beside_the_code_is_bound_to_the_request(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    """The review's unbound transfer: a request naming no service the finder sees, verified
    by a reply that names the service and gives the code in one mail; the verification must
    cover that service, so staff read which one they may act on."""
    request = plain(
        'Please transfer our domain "example" (the one in the .pl zone) to another registrar.',
        sender=ANNA,
    )
    reply = await send_and_answer(mail_gateway, request, ANNA)
    code = totp_for(ANNA_SECRET).at(clock.now())
    answer = plain(
        f"anna.example\nLogin: anna.nowak\nKod: {code}\n",
        subject=f"Re: {reply['Subject']}",
        sender=ANNA,
        message_id="<m2@example.com>",
    )
    answer["In-Reply-To"] = reply["Message-ID"]
    await send_and_answer(mail_gateway, answer, ANNA)
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to(STAFF)) == 1)
    ticket = TICKET.search(reply["Subject"])
    assert ticket is not None
    verified = await request_of(mail_gateway, ticket.group(1))
    assert verified.verification == "verified" and verified.service == "anna.example"
    assert verified.services == '["anna.example"]'


async def test_a_disguised_destination_is_named_to_the_client(
    mail_gateway: MailGateway,
) -> None:
    """Consent phishing with the destination hidden from the finder by a zero-width space: the
    real client is still told where the AuthInfo would go."""
    message = plain(
        "Proszę zmienić adres kontaktowy domeny example.pl na evil\u200b@attacker.example "
        "i wysłać tam kod AuthInfo.",
        subject="Zmiana",
    )
    text = (await send_and_answer(mail_gateway, message)).get_content()
    assert "evil@attacker.example" in text


async def test_a_disguised_destination_in_the_code_reply_is_a_request_of_its_own(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    reply = await a_dns_change(mail_gateway)
    await reply_with_the_code(
        mail_gateway, clock, reply, below="Poprawka: wyślijcie też kopię na evil＠attacker.example"
    )
    ticket = TICKET.search(reply["Subject"])
    assert ticket is not None
    verified = await request_of(mail_gateway, ticket.group(1))
    assert verified.verification == "verified" and "evil" not in verified.request_text
    async with mail_gateway.live.core.sessions() as session:
        held = await session.scalar(
            select(ChangeRequest).where(
                ChangeRequest.conversation_id == verified.conversation_id,
                ChangeRequest.id != verified.id,
            )
        )
    assert held is not None and held.status == "held"
    assert "evil@attacker.example" in held.destinations


async def test_a_strangers_words_never_join_the_clients_held_request(
    mail_gateway: MailGateway, clock: MovableClock
) -> None:
    """A thread with staff: the client's next request is held; a forged reply into the thread
    ("a correction") must not become part of what the client then verifies."""
    reply = await a_dns_change(mail_gateway)
    await reply_with_the_code(mail_gateway, clock, reply)
    second = plain(
        "Please also set the A record of anna.example to 198.51.100.10.",
        subject=f"Re: {reply['Subject']}",
        sender=ANNA,
        message_id="<m4@example.com>",
    )
    second["In-Reply-To"] = reply["Message-ID"]
    second["Authentication-Results"] = "mx.example.net; dkim=pass header.d=example.com"
    asked = await send_and_answer(mail_gateway, second, ANNA)
    forged = plain(
        "Please set the A record of anna.example so that it ends in 99 instead.",
        subject=f"Re: {asked['Subject']}",
        sender=ANNA,
        message_id="<m5@example.com>",
    )
    forged["In-Reply-To"] = asked["Message-ID"]
    await mail_gateway.send(forged.as_bytes(), sender=ANNA)
    ticket = TICKET.search(asked["Subject"])
    assert ticket is not None
    for _ in range(200):
        async with mail_gateway.live.core.sessions() as session:
            lines = list(await session.scalars(select(TranscriptMessage.text)))
        if any("ends in 99" in line for line in lines):
            break
        await asyncio.sleep(0.05)
    held = await request_of(mail_gateway, ticket.group(1))
    assert held.status == "held" and "ends in 99" not in held.request_text
