"""Retention on both databases, through real parts: conversations driven through the pipeline
(chat and e-mail), closed by staff at the desk, delivered by the outbox worker; then the clock
moves on and the purge removes what is past its period, and nothing else, while the chain still
verifies and the evidence bundle still checks."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.audit.chain import sha256_hex, verify_chain
from gateway.audit.export import export_ticket
from gateway.cli import main
from gateway.codes.totp import totp_for
from gateway.config import ConfigError, RetentionSettings, Settings, load_settings
from gateway.core import Core
from gateway.outbox.transports import mail_transport
from gateway.outbox.worker import OutboxWorker
from gateway.retention import PurgeReport, purge_expired
from gateway.staff.desk import StaffDesk
from gateway.storage.engine import writer_turn
from gateway.storage.models import ChangeRequest, InboundMail, OutboxItem, TranscriptMessage
from mail.processor import MailProcessor
from mail.spool import Spool
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.gateway.memory_channel import MemoryChat
from tests.mail.conftest import SUPPORT, email

YEAR_AND_MORE = 400
DEFAULTS = RetentionSettings()  # 365 days of transcripts, 90 of raw messages
TRANSFER = "Hi, please transfer example.pl to another registrar"
ACTION = "Sent the AuthInfo code for example.pl to the registered contact"


@dataclass(frozen=True, slots=True)
class History:
    """Conversations of every kind the purge must tell apart."""

    finished: MemoryChat  # verified and closed by staff more than a year ago
    finished_ticket: str
    awaiting_staff: str  # a year old too, but staff never recorded the action
    held: str  # a year old too, but still waiting for the client's code
    old_mail_ticket: str  # an e-mail request, closed more than a year ago
    recent_mail_ticket: str  # an e-mail request, closed 100 days ago
    recent: str  # verified and closed today


async def verified_chat(core: Core, clock: MovableClock) -> tuple[MemoryChat, str]:
    clock.advance(minutes=1)  # a TOTP step of its own: the last one is spent
    client = await MemoryChat(core.pipeline).open()
    await client.say(TRANSFER)
    outcome = await client.form("jan.kowalski", totp_for(JAN_SECRET).at(clock.now()))
    assert outcome.verified and client.status is not None and client.status.ticket
    return client, client.status.ticket


async def verified_mail(core: Core, clock: MovableClock, number: int) -> str:
    """A first mail carrying its code, taken from the spool by the real processor."""
    clock.advance(minutes=1)
    code = totp_for(JAN_SECRET).at(clock.now())
    body = f"Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"
    raw = email("DNS", body, message_id=f"<dns-{number}@example.com>").encode()
    spool = await Spool.open(core.engine, core.settings.database.url, clock)
    try:
        await spool.store("192.0.2.25", "jan@example.com", [SUPPORT], raw)
        processor = MailProcessor(
            core.engine,
            core.sessions,
            core.pipeline,
            core.policies,
            core.client_mail,
            core.settings,
            clock,
            core.metrics,
            spool,
        )
        assert await processor.process_pending() == 1
    finally:
        await spool.close()
    async with core.sessions() as session:
        request = await session.scalar(select(ChangeRequest).order_by(ChangeRequest.id.desc()))
    assert request is not None and request.verification == "verified"
    assert request.inbound_mail_id is not None
    return request.ticket


async def close(core: Core, ticket: str) -> None:
    await StaffDesk.of(core).record_action("agnieszka", ticket, ACTION)


async def deliver(core: Core, clock: MovableClock) -> None:
    transport = mail_transport(core.settings.outbound.smtp)
    worker = OutboxWorker(
        core.sessions, core.outbox, clock, transport, None, writer_turn(core.engine)
    )
    while await worker.deliver_due():
        pass


async def make_history(core: Core, clock: MovableClock) -> History:
    clock.advance(days=-YEAR_AND_MORE)
    finished, finished_ticket = await verified_chat(core, clock)
    await close(core, finished_ticket)
    awaiting = await MemoryChat(core.pipeline).open()
    await awaiting.say("What are your support hours?")
    held = await MemoryChat(core.pipeline).open()
    await held.say(TRANSFER)
    old_mail_ticket = await verified_mail(core, clock, 1)
    await close(core, old_mail_ticket)
    await deliver(core, clock)

    clock.advance(days=YEAR_AND_MORE - 100)
    recent_mail_ticket = await verified_mail(core, clock, 2)
    await close(core, recent_mail_ticket)
    await deliver(core, clock)

    clock.advance(days=100)
    recent, recent_ticket = await verified_chat(core, clock)
    await close(core, recent_ticket)
    await deliver(core, clock)
    return History(
        finished,
        finished_ticket,
        awaiting.conversation,
        held.conversation,
        old_mail_ticket,
        recent_mail_ticket,
        recent.conversation,
    )


async def transcript(core: Core, conversation: str) -> list[str]:
    async with core.sessions() as session:
        rows = await session.scalars(
            select(TranscriptMessage.text)
            .where(TranscriptMessage.conversation_id == conversation)
            .order_by(TranscriptMessage.id)
        )
        return list(rows)


async def request(core: Core, ticket: str) -> ChangeRequest:
    async with core.sessions() as session:
        found = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
    assert found is not None
    return found


async def raw_mail(core: Core, ticket: str) -> bytes:
    mail_id = (await request(core, ticket)).inbound_mail_id
    async with core.sessions() as session:
        found = await session.get(InboundMail, mail_id)
    assert found is not None
    return found.raw


async def delivered_count(core: Core) -> int:
    async with core.sessions() as session:
        query = select(func.count(OutboxItem.id)).where(OutboxItem.delivered_at.is_not(None))
        return int(await session.scalar(query) or 0)


async def snapshot(core: Core, history: History) -> dict[str, object]:
    """Everything the purge could touch, to compare before and after."""
    conversations = {
        name: await transcript(core, conversation)
        for name, conversation in [
            ("finished", history.finished.conversation),
            ("awaiting_staff", history.awaiting_staff),
            ("held", history.held),
            ("old_mail", (await request(core, history.old_mail_ticket)).conversation_id),
            ("recent_mail", (await request(core, history.recent_mail_ticket)).conversation_id),
            ("recent", history.recent),
        ]
    }
    texts = {}
    for ticket in (history.finished_ticket, history.old_mail_ticket):
        found = await request(core, ticket)
        texts[ticket] = (found.request_text, found.action_text)
    raws = {
        ticket: await raw_mail(core, ticket)
        for ticket in (history.old_mail_ticket, history.recent_mail_ticket)
    }
    return {
        "transcripts": conversations,
        "texts": texts,
        "raws": raws,
        "delivered": await delivered_count(core),
    }


async def chain_count(core: Core) -> int:
    async with core.sessions() as session:
        report = await verify_chain(session, core.keys)
    assert report.intact, report.problem
    return report.count


async def test_the_purge_removes_finished_content_past_its_period_and_nothing_else(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    history = await make_history(core, clock)
    before = await snapshot(core, history)
    records = await chain_count(core)
    old_delivered = before["delivered"]
    assert isinstance(old_delivered, int) and old_delivered > 3

    report = await purge_expired(core.engine, clock, DEFAULTS, batch_size=2)

    transcripts = before["transcripts"]
    assert isinstance(transcripts, dict)
    purged_lines = len(transcripts["finished"]) + len(transcripts["old_mail"])
    assert report.transcript_messages == purged_lines
    assert report.request_texts == 2 and report.raw_messages == 2
    after = await snapshot(core, history)
    after_transcripts = after["transcripts"]
    assert isinstance(after_transcripts, dict)
    for finished in ("finished", "old_mail"):
        assert set(after_transcripts[finished]) == {""}
    for kept in ("awaiting_staff", "held", "recent_mail", "recent"):
        assert after_transcripts[kept] == transcripts[kept] and "" not in transcripts[kept]
    assert after["texts"] == {
        history.finished_ticket: ("", ""),
        history.old_mail_ticket: ("", ""),
    }
    assert (await request(core, history.recent_mail_ticket)).action_text == ACTION
    assert after["raws"] == {history.old_mail_ticket: b"", history.recent_mail_ticket: b""}
    # Only today's deliveries are left: the closed chat's staff copy and the contact's notice.
    assert after["delivered"] == 2
    assert report.delivered_items == old_delivered - 2

    assert await chain_count(core) == records
    again = await purge_expired(core.engine, clock, DEFAULTS)
    assert again == PurgeReport(0, 0, 0, 0)


async def test_the_export_still_checks_and_says_the_content_was_purged(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    history = await make_history(core, clock)
    ticket = history.finished_ticket
    async with core.sessions() as session:
        kept = await export_ticket(session, core.keys, ticket)
    assert kept["content_purged"] is False
    assert kept["request"]["request_text"] == TRANSFER

    await purge_expired(core.engine, clock, DEFAULTS)
    async with core.sessions() as session:
        bundle = await export_ticket(session, core.keys, ticket)
    assert bundle["content_purged"] is True
    assert bundle["request"]["request_text"] is None
    assert bundle["request"]["action_text"] is None
    assert bundle["transcript"] and all(line["text"] is None for line in bundle["transcript"])
    assert bundle["transcript"][0]["author"] == "bot" and bundle["transcript"][0]["ts"]
    # The digests still prove what the texts were, and every hash still checks.
    assert bundle["request_text_sha256"] == kept["request_text_sha256"] == sha256_hex(TRANSFER)
    record = bundle["verification_record"]["chained_body"]
    assert record["request_text_sha256"] == sha256_hex(TRANSFER)
    (action,) = bundle["staff_actions"]
    assert action["chained_body"]["action_text_sha256"] == sha256_hex(ACTION)
    for link in [bundle["verification_record"], action]:
        body = json.dumps(link["chained_body"], sort_keys=True, separators=(",", ":"))
        assert sha256_hex(body) == link["hash"]
    assert bundle["verification_record"] == kept["verification_record"]


async def test_a_client_writing_again_after_the_purge_keeps_the_new_words(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    history = await make_history(core, clock)
    await purge_expired(core.engine, clock, DEFAULTS)
    await history.finished.say("Thanks a lot, have a nice day")
    assert await purge_expired(core.engine, clock, DEFAULTS) == PurgeReport(0, 0, 0, 0)
    lines = await transcript(core, history.finished.conversation)
    assert lines[-1] == "Thanks a lot, have a nice day"

    clock.advance(days=366)  # idle for a whole period again: now it goes too
    report = await purge_expired(core.engine, clock, RetentionSettings(raw_messages_days=0))
    assert report.transcript_messages >= 1
    assert set(await transcript(core, history.finished.conversation)) == {""}


async def test_a_dry_run_counts_and_changes_nothing(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    history = await make_history(core, clock)
    before = await snapshot(core, history)
    would = await purge_expired(core.engine, clock, DEFAULTS, dry_run=True, batch_size=2)
    assert await snapshot(core, history) == before
    assert would.summary().startswith("would purge ")
    done = await purge_expired(core.engine, clock, DEFAULTS)
    assert (done.transcript_messages, done.request_texts) == (
        would.transcript_messages,
        would.request_texts,
    )
    assert (done.raw_messages, done.delivered_items) == (
        would.raw_messages,
        would.delivered_items,
    )
    assert done.transcript_messages > 0 and done.summary().startswith("purged ")


async def test_zero_days_keeps_for_ever(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    history = await make_history(core, clock)
    before = await snapshot(core, history)
    forever = RetentionSettings(transcripts_days=0, raw_messages_days=0)
    clock.advance(days=20 * 365)
    assert await purge_expired(core.engine, clock, forever) == PurgeReport(0, 0, 0, 0)
    assert await snapshot(core, history) == before

    raw_only = await purge_expired(core.engine, clock, RetentionSettings(transcripts_days=0))
    assert (raw_only.transcript_messages, raw_only.request_texts) == (0, 0)
    assert raw_only.raw_messages == 2
    after = await snapshot(core, history)
    assert after["transcripts"] == before["transcripts"] and after["texts"] == before["texts"]


def cli_config(settings: Settings, path: Path, extra: str = "") -> Path:
    path.write_text(
        f'[data]\ndir = "{settings.data.dir}"\n'
        f'[database]\nurl = "{settings.database.url}"\n'
        f'[outbound]\nsmtp = "{settings.outbound.smtp}"\n{extra}'
    )
    return path


async def test_the_command_purges_and_the_audit_commands_still_pass(
    core: Core,
    clients: dict[str, int],
    clock: MovableClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`gateway retention purge` runs on the real clock: the history is made in the past."""
    clock.advance(days=-YEAR_AND_MORE)
    client, ticket = await verified_chat(core, clock)
    await close(core, ticket)
    clock.advance(days=YEAR_AND_MORE)
    recent = await MemoryChat(core.pipeline).open()
    await recent.say("What are your support hours?")
    config = cli_config(core.settings, tmp_path / "gateway.toml")

    def gateway(*args: str) -> int:
        return main(["--config", str(config), *args])

    lines = len(await transcript(core, client.conversation))
    records = await chain_count(core)
    capsys.readouterr()
    assert await asyncio.to_thread(gateway, "retention", "purge", "--dry-run") == 0
    assert capsys.readouterr().out == (
        f"would purge {lines} transcript messages, 1 request texts, 0 raw messages, "
        "0 delivered outbox items\n"
    )
    assert "" not in await transcript(core, client.conversation)
    assert await asyncio.to_thread(gateway, "retention", "purge") == 0
    assert capsys.readouterr().out.startswith(f"purged {lines} transcript messages, 1 request")
    assert set(await transcript(core, client.conversation)) == {""}
    assert "" not in await transcript(core, recent.conversation)

    assert await asyncio.to_thread(gateway, "audit", "verify") == 0
    assert capsys.readouterr().out.strip() == f"ok {records} records"
    assert await asyncio.to_thread(gateway, "audit", "export", ticket) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["content_purged"] is True
    assert bundle["request_text_sha256"] == sha256_hex(TRANSFER)


def test_retention_settings_defaults_overrides_and_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(None, {})
    assert (settings.retention.transcripts_days, settings.retention.raw_messages_days) == (365, 90)
    env = {"GATEWAY_RETENTION_TRANSCRIPTS_DAYS": "0", "GATEWAY_RETENTION_RAW_MESSAGES_DAYS": "30"}
    overridden = load_settings(None, env).retention
    assert (overridden.transcripts_days, overridden.raw_messages_days) == (0, 30)
    with pytest.raises(ConfigError, match=r"^config key 'retention.raw_messages_days': "):
        load_settings(None, {"GATEWAY_RETENTION_RAW_MESSAGES_DAYS": "-1"})

    bad = tmp_path / "bad.toml"
    bad.write_text("[retention]\ntranscripts_days = -7\n")
    assert main(["--config", str(bad), "retention", "purge"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "retention.transcripts_days" in line and "-7" in line
