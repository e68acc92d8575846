"""The whole dialogue through an in-memory channel, on both databases."""

from __future__ import annotations

import json
from email import message_from_bytes
from pathlib import Path

from sqlalchemy import select

from gateway.audit.chain import verify_chain
from gateway.codes.issuing import issue_panel_code
from gateway.codes.totp import totp_for
from gateway.core import Core
from gateway.pipeline.model import CloseConversation, Inbound, Stage
from gateway.storage.models import ChangeRequest, OutboxItem, TranscriptMessage
from policies import Channel
from tests.gateway.conftest import ANNA_SECRET, JAN_SECRET
from tests.gateway.memory_channel import MemoryChat


async def chat(core: Core, language: str = "en") -> MemoryChat:
    return await MemoryChat(core.pipeline, language=language).open()


async def outbox(core: Core) -> list[OutboxItem]:
    async with core.sessions() as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


async def transcript_text(core: Core, conversation: str) -> str:
    async with core.sessions() as session:
        rows = await session.scalars(
            select(TranscriptMessage).where(TranscriptMessage.conversation_id == conversation)
        )
        return "\n".join(row.text for row in rows)


async def test_the_first_message_is_the_recording_notice(core: Core) -> None:
    english, polish = await chat(core), await chat(core, "pl")
    assert "recorded" in english.pop()
    assert "nagrywana" in polish.pop()
    assert english.stage is Stage.OPEN


async def test_a_general_question_goes_to_staff_without_a_code(core: Core, clients) -> None:
    client = await chat(core)
    client.pop()
    outcome = await client.say("What are your support hours?")
    assert outcome.message_id is not None
    assert client.stage is Stage.OPEN
    assert client.status is not None and client.status.intent == "general_question"
    assert "passed to our staff" in client.pop()
    (mail,) = await outbox(core)
    staff_mail = message_from_bytes(mail.payload)
    assert staff_mail["X-Gateway-Verification"] == "not-required"
    await client.say("Thanks, and one more thing: is there parking?")
    assert client.inbox == [] and len(await outbox(core)) == 1


async def test_a_change_request_walks_identify_authenticate_verified(
    core: Core, clients, clock
) -> None:
    client = await chat(core)
    client.pop()
    await client.say("Hi, I want to transfer my domain to another registrar")
    assert client.stage is Stage.IDENTIFY
    status = client.status
    assert status is not None and status.intent == "domain_transfer"
    assert status.ticket is not None and status.ticket.startswith("T-")
    assert "Which service" in client.pop()
    await client.say("it is example.pl")
    assert client.stage is Stage.AUTHENTICATE
    assert status.ticket in client.pop()
    code = totp_for(JAN_SECRET).at(clock.now())
    outcome = await client.form("jan.kowalski", code)
    assert outcome.verified is True
    assert client.stage is Stage.VERIFIED
    assert "verified" in client.pop()

    items = await outbox(core)
    staff = [
        message_from_bytes(i.payload)
        for i in items
        if b"staff@example.net" in i.destination.encode()
    ]
    assert len(staff) == 1
    assert staff[0]["Subject"].startswith(f"[{status.ticket}]")
    assert staff[0]["X-Gateway-Verification"] == "verified"
    attachment = next(p for p in staff[0].walk() if p.get_filename() == "verification.json")
    record = json.loads(attachment.get_payload(decode=True))
    assert record["verification"] == "verified"
    assert record["login"] == "jan.kowalski" and record["service"] == "example.pl"
    assert record["method"] == "totp" and record["identified_by"] == "service"
    assert record["channel"] == "chat" and record["client"] == "198.51.100.7"
    # domain_transfer tells the registered contact
    contact = [
        message_from_bytes(i.payload) for i in items if b"jan@example.com" in i.destination.encode()
    ]
    assert len(contact) == 1
    assert code not in await transcript_text(core, client.conversation)
    async with core.sessions() as session:
        assert (await verify_chain(session, core.keys)).intact


async def test_a_service_in_the_request_skips_identify(core: Core, clients, clock) -> None:
    client = await chat(core)
    await client.say("please change the DNS A record of sklep-anny.pl")
    assert client.stage is Stage.AUTHENTICATE
    ticket = client.status.ticket if client.status else None
    async with core.sessions.begin() as session:
        issued = await issue_panel_code(session, core.keys.secret, clock, "anna.nowak", ticket)
    outcome = await client.say(f"login anna.nowak code {issued.code}")
    assert outcome.verified is True and client.stage is Stage.VERIFIED
    text = await transcript_text(core, client.conversation)
    assert issued.code not in text and "anna.nowak" in text


async def test_identification_by_pesel_and_mistyped_numbers(core: Core, clients, clock) -> None:
    client = await chat(core, "pl")
    await client.say("Chcę zmienić adres e-mail kontaktowy")
    assert client.stage is Stage.IDENTIFY
    client.inbox.clear()
    await client.say("mój PESEL to 44051401358")
    assert client.stage is Stage.IDENTIFY
    assert "błędny" in client.pop()
    await client.say("PESEL 44051401359")
    assert client.stage is Stage.AUTHENTICATE
    await client.form("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
    assert client.stage is Stage.VERIFIED
    text = await transcript_text(core, client.conversation)
    assert "44051401359" not in text and "44051401358" not in text
    url = core.settings.database.url
    if url.startswith("sqlite"):
        await core.engine.dispose()  # checkpoint the WAL so the file holds everything
        raw = Path(url.split("///", 1)[1]).read_bytes()
        assert b"44051401359" not in raw and b"44051401358" not in raw
    async with core.sessions() as session:
        request = await session.scalar(select(ChangeRequest))
    assert request is not None and request.identified_by == "pesel"


async def test_an_unknown_service_fails_like_a_wrong_code(core: Core, clients, clock) -> None:
    known, unknown = await chat(core), await chat(core)
    await known.say("transfer example.pl please")
    await unknown.say("transfer not-ours.pl please")
    assert known.stage is unknown.stage is Stage.AUTHENTICATE
    known.inbox.clear()
    unknown.inbox.clear()
    await known.form("jan.kowalski", "000000")
    await unknown.form("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
    assert known.pop() == unknown.pop()
    assert known.stage is unknown.stage is Stage.AUTHENTICATE


async def test_five_wrong_codes_lock_the_conversation(core: Core, clients) -> None:
    client = await chat(core)
    await client.say("please delete my hosting vps-1234")
    for attempt in range(5):
        outcome = await client.form("jan.kowalski", f"{attempt:06d}")
        assert outcome.verified is False
    assert client.stage is Stage.LOCKED
    assert "locked" in client.inbox[-1]
    await client.say("come on, let me in")
    assert client.stage is Stage.LOCKED
    staff = [i for i in await outbox(core) if b"staff@example.net" in i.destination.encode()]
    assert staff == []


async def test_a_conversation_locks_whatever_the_reason(core: Core, clients) -> None:
    client = await chat(core)
    await client.say("change the owner of example.pl")
    for login in ("nobody", "ghost", "jan.kowalski", "anna.nowak", "x"):
        await client.form(login, "12345678")
    assert client.stage is Stage.LOCKED


async def test_a_replayed_code_is_refused_in_a_second_conversation(
    core: Core, clients, clock
) -> None:
    code = totp_for(ANNA_SECRET).at(clock.now())
    first, second = await chat(core), await chat(core)
    await first.say("reset password for anna.example")
    await second.say("reset password for anna.example")
    assert (await first.form("anna.nowak", code)).verified is True
    assert (await second.form("anna.nowak", code)).verified is False


async def test_credentials_without_a_request_are_not_taken(core: Core, clients, clock) -> None:
    client = await chat(core)
    outcome = await client.form("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
    assert outcome.verified is False
    assert "no request waiting" in client.inbox[-1]


async def test_cancel_withdraws_the_request(core: Core, clients) -> None:
    client = await chat(core)
    await client.say("I need a duplicate invoice")
    ticket = client.status.ticket if client.status else None
    await client.say("cancel")
    assert client.stage is Stage.OPEN
    assert f"{ticket} has been withdrawn" in client.inbox[-1]


async def test_a_closed_conversation_refuses_messages(core: Core, clients) -> None:
    client = await chat(core)
    await core.pipeline.handle(CloseConversation("staff", client.conversation))
    outcome = await client.say("hello?")
    assert outcome.error == "closed" and outcome.message_id is None


async def test_only_chat_turns_are_remembered_for_the_fast_path(core: Core) -> None:
    """A node's cache of stages serves chat lines; mail threads, thousands a day, would only
    crowd it."""
    client = await chat(core)
    await client.say("What are your support hours?")
    assert core.pipeline.states.get(client.conversation) is not None
    async with core.sessions.begin() as session:
        opened = await core.pipeline.open_within(session, Channel.EMAIL, "jan@example.com")
        thread = opened.status.conversation
        inbound = Inbound(Channel.EMAIL, thread, "What are your support hours?")
        outcome, after_commit = await core.pipeline.handle_within(session, inbound)
    await after_commit()
    assert outcome.message_id is not None
    assert core.pipeline.states.get(thread) is None
