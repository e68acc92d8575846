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

from gateway.audit.chain import ChainCheckpoint, verify_chain
from gateway.audit.witness import heads_in, witness_problem
from gateway.codes.totp import totp_for
from gateway.config import replace
from gateway.core import Core
from gateway.housekeeping import publish_head
from gateway.storage.models import AuditRecord, OutboxItem
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.gateway.memory_channel import MemoryChat


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
    saved.write_bytes(b"\n".join(mail.payload for mail in mails))
    (head,) = heads_in(saved.read_text())
    assert head.seq == 1 and await problem(core, saved) is None
