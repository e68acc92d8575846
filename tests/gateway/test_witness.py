"""A witness outside the database (issue 13, item 2): the chain's head leaves the database in
every staff delivery and on the gateway's clock, and `audit verify --witness` catches a
rollback that the chain and its checkpoint alone cannot (an old checkpoint row put back)."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from gateway.audit.chain import ChainCheckpoint, sha256_hex, verify_chain
from gateway.audit.export import export_ticket
from gateway.audit.witness import (
    WITNESSED_ID,
    heads_in,
    last_witnessed,
    malformed_heads,
    marker_problem,
    witness_problem,
    witness_text,
)
from gateway.codes.totp import totp_for
from gateway.config import replace
from gateway.core import Core
from gateway.housekeeping import publish_head
from gateway.outbox.transports import mail_transport
from gateway.outbox.worker import OutboxWorker
from gateway.storage.models import AuditRecord, OutboxItem
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.gateway.memory_channel import MemoryChat
from tests.smtp_sink import SmtpSink, free_port


async def append(core: Core, count: int, first: int = 0) -> None:
    for number in range(first, first + count):
        async with core.sessions.begin() as session:
            fields = {"intent": "dns_change", "request_text": f"change {number}"}
            await core.chain.append(session, "verification", f"T-W{number:05d}", fields)


async def saved_checkpoint(core: Core) -> dict[str, object]:
    async with core.sessions() as session:
        row = await session.get(ChainCheckpoint, 1)
        assert row is not None
        return {"seq": row.seq, "hash": row.hash, "key_id": row.key_id, "mac": row.mac}


async def roll_back_to(core: Core, checkpoint: dict[str, object]) -> None:
    """What someone with an old backup of the checkpoint row does: drop the newer records and
    put the old row back. No key is needed for that."""
    async with core.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq > checkpoint["seq"]))
        row = await session.get(ChainCheckpoint, 1)
        assert row is not None
        row.seq, row.hash = checkpoint["seq"], checkpoint["hash"]  # type: ignore[assignment]
        row.key_id, row.mac = checkpoint["key_id"], checkpoint["mac"]  # type: ignore[assignment]


async def problem(core: Core, witness: Path) -> str | None:
    async with core.sessions() as session:
        return await witness_problem(session, core.keys, heads_in(witness.read_text()))


async def test_a_rollback_to_a_saved_checkpoint_passes_the_chain_but_not_the_witness(
    core: Core, tmp_path: Path
) -> None:
    witness = tmp_path / "witness.log"
    witnessing = replace(core.settings, audit={"witness": f"file:{witness}"})
    await append(core, 2)
    old = await saved_checkpoint(core)
    await append(core, 3)
    assert await publish_head(core, witnessing.audit) is True
    assert await publish_head(core, witnessing.audit) is False  # nothing new: nothing written
    assert await problem(core, witness) is None
    await roll_back_to(core, old)
    async with core.sessions() as session:
        assert (await verify_chain(session, core.keys)).intact  # the chain alone is fooled
    found = await problem(core, witness)
    assert found is not None and "record 5 was witnessed but is missing" in found


async def test_a_rewritten_tail_differs_from_the_witnessed_head(core: Core, tmp_path: Path) -> None:
    witness = tmp_path / "witness.log"
    witnessing = replace(core.settings, audit={"witness": f"file:{witness}"})
    await append(core, 2)
    old = await saved_checkpoint(core)
    await append(core, 1)
    await publish_head(core, witnessing.audit)
    await roll_back_to(core, old)
    await append(core, 1, first=7)  # record 3 again, with other content: a different hash
    found = await problem(core, witness)
    assert found is not None and "record 3 differs from the one witnessed" in found


async def test_a_head_rewritten_at_a_witnessed_number_is_witnessed_again(
    core: Core, tmp_path: Path
) -> None:
    """The writer compares hashes, not only numbers: a tail rewritten to the same length is
    sent to the witness too, so the witness holds both heads and the check sees the fork."""
    witness = tmp_path / "witness.log"
    witnessing = replace(core.settings, audit={"witness": f"file:{witness}"})
    await append(core, 2)
    old = await saved_checkpoint(core)
    await append(core, 1)
    assert await publish_head(core, witnessing.audit)
    await roll_back_to(core, old)
    await append(core, 1, first=7)
    assert await publish_head(core, witnessing.audit)
    assert len(heads_in(witness.read_text())) == 2
    assert "record 3 differs from the one witnessed" in str(await problem(core, witness))


async def edit_marker(core: Core, **values: object) -> None:
    async with core.sessions.begin() as session:
        marker = await session.get(ChainCheckpoint, WITNESSED_ID)
        assert marker is not None
        for name, value in values.items():
            setattr(marker, name, value)


async def test_an_edited_marker_neither_stops_the_witness_nor_vouches_for_a_rollback(
    core: Core, tmp_path: Path, clients: dict[str, int], clock: MovableClock
) -> None:
    """The attack (helper-9): the marker of the last head sent is set to seq 999, which used to
    stop the writer for good, so a later rollback passed `audit verify --witness`, and the
    export claimed every record witnessed. The marker is signed: edited, it is ignored."""
    witness = tmp_path / "witness.log"
    witnessing = replace(core.settings, audit={"witness": f"file:{witness}"})
    chat = await MemoryChat(core.pipeline, language="en").open()
    await chat.say("Please add a TXT record to anna.example")
    clock.advance(seconds=30)
    assert (await chat.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified
    assert await publish_head(core, witnessing.audit)
    await edit_marker(core, seq=999)
    async with core.sessions() as session:
        assert "not signed by a known key" in str(await marker_problem(session, core.keys))
        ticket = (
            await session.scalars(select(AuditRecord.ticket).order_by(AuditRecord.seq))
        ).first()
        assert ticket is not None
        bundle = await export_ticket(session, core.keys, ticket)
    assert bundle["last_witnessed_head"] is None
    assert bundle["verification_record"]["witnessed_in_head"] is None
    await append(core, 1, first=3)
    assert await publish_head(core, witnessing.audit)  # not stopped: sent again, then current
    assert await publish_head(core, witnessing.audit) is False
    async with core.sessions() as session:
        assert await marker_problem(session, core.keys) is None
        bundle = await export_ticket(session, core.keys, ticket)
    assert bundle["last_witnessed_head"]["record_id"] == 2
    assert bundle["verification_record"]["witnessed_in_head"] == 2
    assert bundle["chain_verdict"]["records"] == ["ok"]


async def test_the_export_says_when_the_chain_around_its_records_is_broken(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    chat = await MemoryChat(core.pipeline, language="en").open()
    await chat.say("Please add a TXT record to anna.example")
    clock.advance(seconds=30)
    assert (await chat.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified
    await append(core, 1, first=3)
    async with core.sessions.begin() as session:
        ticket = (
            await session.scalars(select(AuditRecord.ticket).order_by(AuditRecord.seq))
        ).first()
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    async with core.sessions() as session:
        assert ticket is not None
        bundle = await export_ticket(session, core.keys, ticket)
    (verdict,) = bundle["chain_verdict"]["records"]
    assert "rolled back" in verdict


async def test_a_forged_witness_line_is_refused(core: Core, tmp_path: Path) -> None:
    await append(core, 1)
    async with core.sessions() as session:
        row = await session.scalar(select(AuditRecord))
    assert row is not None
    forged = tmp_path / "forged.log"
    forged.write_text(f"chain-head seq=1 hash={row.hash} key=nobody mac={'0' * 64}\n")
    assert "not signed by a known key" in str(await problem(core, forged))


@pytest.mark.parametrize("kind", ["mailbox", "webhook"])
async def test_the_head_goes_to_the_mailbox_or_the_webhook(core: Core, kind: str) -> None:
    settings = replace(
        core.settings,
        audit={"witness": kind},
        staff={"mailbox": "staff@example.net", "webhook_url": "https://hooks.example/x"},
    )
    await append(core, 2)
    assert await publish_head(core, settings.audit, settings.staff)
    async with core.sessions() as session:
        (item,) = list(await session.scalars(select(OutboxItem)))
    if kind == "mailbox":
        message = message_from_bytes(item.payload, policy=default)
        (head,) = heads_in(str(message["X-Gateway-Chain-Head"]))
        # Review (helper-11, F5): the mail as saved (folded header, quoted-printable body)
        # is a witness file as it is.
        saved = witness_text(item.payload)
        assert malformed_heads(saved) == 0 and set(heads_in(saved)) == {head}
    else:
        (head,) = heads_in(json.loads(item.payload)["chain_head"])
    assert head.seq == 2


async def test_every_staff_mail_carries_the_head_its_record_made(
    core: Core, clients: dict[str, int], clock: MovableClock, tmp_path: Path
) -> None:
    """Saved staff mails are a witness too: `audit verify --witness` reads their headers."""
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say("Please add a TXT record to anna.example")
    clock.advance(seconds=30)
    assert (await client.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified
    async with core.sessions() as session:
        mails = [m for m in await session.scalars(select(OutboxItem)) if b"staff@" in m.payload]
    saved = tmp_path / "staff.mbox"
    saved.write_bytes(
        b"".join(b"From gateway Thu Dec  3 12:00:00 2026\n" + m.payload + b"\n" for m in mails)
    )
    text = witness_text(saved.read_bytes())
    (head,) = set(heads_in(text))
    assert head.seq == 1 and malformed_heads(text) == 0
    async with core.sessions() as session:
        assert await witness_problem(session, core.keys, heads_in(text)) is None


async def test_a_record_appended_outside_the_gateway_is_never_witnessed(
    core: Core, tmp_path: Path
) -> None:
    """Review (helper-11, F6): a correctly hashed record added behind the checkpoint's back
    was sent to the witness, which then vouched for it. Only the signed checkpoint's head is."""
    witness = tmp_path / "witness.log"
    witnessing = replace(core.settings, audit={"witness": f"file:{witness}"})
    await append(core, 1)
    async with core.sessions.begin() as session:
        last = await session.get(AuditRecord, 1)
        assert last is not None
        body = json.dumps({"prev_hash": last.hash, "record_id": 2, "ticket": "T-FORGED"})
        session.add(
            AuditRecord(
                seq=2,
                kind="verification",
                ticket="T-FORGED",
                body=body,
                prev_hash=last.hash,
                hash=sha256_hex(body),
                created_at=last.created_at,
            )
        )
    assert await publish_head(core, witnessing.audit) is False
    assert not witness.exists()
    async with core.sessions() as session:
        report = await verify_chain(session, core.keys)
    assert report.problem is not None and "record 2: past the checkpoint" in report.problem


async def test_a_head_for_the_mailbox_is_witnessed_once_delivered(
    core: Core, clock: MovableClock
) -> None:
    """Review (helper-11, F4): the marker moved when the witness mail was queued, so deleting
    it from the outbox (or a trigger that drops it) left the export claiming a witness that
    never left the database. Queued is not witnessed: the marker moves on delivery."""
    sink = SmtpSink(port=free_port())
    await sink.start()
    try:
        settings = replace(
            core.settings, audit={"witness": "mailbox"}, staff={"mailbox": "staff@example.net"}
        )
        worker = OutboxWorker(
            core.sessions, core.outbox, clock, mail_transport(f"127.0.0.1:{sink.port}"), None
        )
        await append(core, 2)
        assert await publish_head(core, settings.audit, settings.staff)
        assert await publish_head(core, settings.audit, settings.staff) is False  # on its way
        async with core.sessions.begin() as session:
            assert await last_witnessed(session, core.keys) is None
            await session.execute(delete(OutboxItem))  # the administrator drops it
        assert await publish_head(core, settings.audit, settings.staff)  # so it goes again
        assert await worker.deliver_due() == 1
        async with core.sessions() as session:
            head = await last_witnessed(session, core.keys)
        assert head is not None and head.seq == 2
        assert await publish_head(core, settings.audit, settings.staff) is False
        (mail,) = sink.messages
        assert set(heads_in(witness_text(mail.as_bytes()))) == {head}
    finally:
        await sink.stop()
