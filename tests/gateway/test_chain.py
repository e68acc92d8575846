"""The hash chain: intact when untouched, and every kind of tampering named by record."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import delete, select, update

from gateway.audit.chain import ChainError, canonical_json, chained_form, sha256_hex, verify_chain
from gateway.core import Core
from gateway.storage.models import AuditRecord, ChainCheckpoint


async def append_records(core: Core, count: int) -> list[dict[str, object]]:
    records = []
    for number in range(count):
        async with core.sessions.begin() as session:
            fields = {"intent": "dns_change", "request_text": f"change A record {number}"}
            records.append(await core.chain.append(session, "verification", "T-AAAAAA", fields))
    return records


async def report(core: Core, keys: object | None = None):  # type: ignore[no-untyped-def]
    async with core.sessions() as session:
        return await verify_chain(session, keys or core.keys)  # type: ignore[arg-type]


async def test_an_untouched_chain_verifies(core: Core) -> None:
    records = await append_records(core, 5)
    assert [r["record_id"] for r in records] == [1, 2, 3, 4, 5]
    assert records[1]["prev_hash"] == records[0]["hash"]
    assert records[0]["hash"] == sha256_hex(canonical_json(chained_form(records[0])))
    result = await report(core)
    assert result.intact and result.count == 5


async def test_content_is_chained_by_digest_so_it_can_be_purged(core: Core) -> None:
    (record,) = await append_records(core, 1)
    async with core.sessions() as session:
        stored = await session.get(AuditRecord, 1)
    assert stored is not None
    assert "change A record" not in stored.body
    assert sha256_hex("change A record 0") in stored.body


async def test_an_edited_record_is_named(core: Core) -> None:
    await append_records(core, 4)
    async with core.sessions.begin() as session:
        row = await session.get(AuditRecord, 2)
        assert row is not None
        row.body = row.body.replace("dns_change", "general_question")
    result = await report(core)
    assert not result.intact
    assert result.problem is not None and result.problem.startswith("record 2:")


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(core: Core) -> None:
    await append_records(core, 4)
    async with core.sessions.begin() as session:
        row = await session.get(AuditRecord, 2)
        assert row is not None
        row.body = row.body.replace("dns_change", "general_question")
        row.hash = sha256_hex(row.body)
    result = await report(core)
    assert result.problem is not None and result.problem.startswith("record 3:")


async def test_a_deleted_middle_record_is_named(core: Core) -> None:
    await append_records(core, 5)
    async with core.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
    result = await report(core)
    assert result.problem is not None and result.problem.startswith("record 3:")
    assert "missing" in result.problem


async def test_a_deleted_tail_is_caught_by_the_checkpoint(core: Core) -> None:
    await append_records(core, 5)
    async with core.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq >= 4))
    result = await report(core)
    assert result.problem is not None and result.problem.startswith("record 4:")


async def test_a_checkpoint_moved_back_without_the_key_is_caught(core: Core) -> None:
    records = await append_records(core, 5)
    async with core.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq >= 4))
        await session.execute(update(ChainCheckpoint).values(seq=3, hash=records[2]["hash"]))
    result = await report(core)
    assert result.problem is not None and "checkpoint" in result.problem
    async with core.sessions.begin() as session:
        with pytest.raises(ChainError):
            await core.chain.append(session, "verification", "T-AAAAAA", {})


async def test_old_checkpoints_verify_with_a_retired_key(core: Core) -> None:
    await append_records(core, 2)
    rotated = dataclasses.replace(
        core.keys, secret=b"a-brand-new-secret-key", previous=(core.keys.secret,)
    )
    assert (await report(core, rotated)).intact
    without_old = dataclasses.replace(core.keys, secret=b"a-brand-new-secret-key", previous=())
    assert not (await report(core, without_old)).intact


async def test_an_empty_chain_verifies(core: Core) -> None:
    result = await report(core)
    assert result.intact and result.count == 0
    async with core.sessions() as session:
        assert (await session.scalars(select(AuditRecord))).all() == []
