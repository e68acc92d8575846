"""One SHA-256 hash chain over verification records and staff actions.

Each link stores the canonical JSON of its record (which names the previous link's hash), so
editing a row breaks its own hash and deleting one breaks the next link. Deleting the tail leaves
a shorter chain that is still internally consistent, so the head is also kept in a checkpoint
MAC'd with the secret key: without the key nobody can move it back.

Client text is chained by its SHA-256 (`*_sha256` fields), not verbatim, so transcripts can be
purged after their retention period while the chain still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.witness import Head, head_of
from gateway.clock import Clock
from gateway.keys import Keys
from gateway.storage.batches import pages
from gateway.storage.models import AuditRecord, ChainCheckpoint

GENESIS_HASH = "0" * 64
CHECKPOINT_ID = 1
CONTENT_FIELDS = ("request_text", "action_text")


class ChainError(Exception):
    """The chain cannot be written: its checkpoint is missing or was not signed by our keys."""


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chained_form(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the chain sees it: no `hash`, content fields replaced by their digests."""
    chained = {k: v for k, v in record.items() if k != "hash" and k not in CONTENT_FIELDS}
    for name in CONTENT_FIELDS:
        if name in record:
            chained[f"{name}_sha256"] = sha256_hex(record[name] or "")
    return chained


def _checkpoint_message(seq: int, head: str) -> str:
    return f"chain-checkpoint:{seq}:{head}"


async def ensure_checkpoint(session: AsyncSession, keys: Keys) -> None:
    """Start an empty chain once; called by `db upgrade` and `serve`, which hold the keys."""
    existing = await session.get(ChainCheckpoint, CHECKPOINT_ID)
    if existing is None:
        session.add(_new_checkpoint(keys, 0, GENESIS_HASH))
        await session.flush()


def _new_checkpoint(keys: Keys, seq: int, head: str) -> ChainCheckpoint:
    signer, mac = keys.sign(_checkpoint_message(seq, head))
    return ChainCheckpoint(id=CHECKPOINT_ID, seq=seq, hash=head, key_id=signer, mac=mac)


class AuditChain:
    def __init__(self, keys: Keys, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    def head(self, record: Mapping[str, Any]) -> Head:
        """The chain's head as a just-appended record left it, signed for a witness."""
        return head_of(self._keys, record["record_id"], record["hash"])

    async def append(
        self, session: AsyncSession, kind: str, ticket: str, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Link a record within the caller's transaction; returns it with id and hashes."""
        checkpoint = await session.scalar(
            select(ChainCheckpoint).where(ChainCheckpoint.id == CHECKPOINT_ID).with_for_update()
        )
        if checkpoint is None:
            raise ChainError("the audit chain has no checkpoint: run `gateway db upgrade`")
        if not _checkpoint_is_genuine(self._keys, checkpoint):
            raise ChainError("the audit chain checkpoint is not signed by a known key")
        seq = checkpoint.seq + 1
        record = {**fields, "record_id": seq, "ticket": ticket, "prev_hash": checkpoint.hash}
        body = canonical_json(chained_form(record))
        record["hash"] = sha256_hex(body)
        session.add(
            AuditRecord(
                seq=seq,
                kind=kind,
                ticket=ticket,
                body=body,
                prev_hash=checkpoint.hash,
                hash=record["hash"],
                created_at=self._clock.now(),
            )
        )
        fresh = _new_checkpoint(self._keys, seq, record["hash"])
        checkpoint.seq, checkpoint.hash = fresh.seq, fresh.hash
        checkpoint.key_id, checkpoint.mac = fresh.key_id, fresh.mac
        await session.flush()
        return record


def _checkpoint_is_genuine(keys: Keys, checkpoint: ChainCheckpoint) -> bool:
    message = _checkpoint_message(checkpoint.seq, checkpoint.hash)
    return keys.signed(checkpoint.key_id, checkpoint.mac, message)


@dataclass(frozen=True, slots=True)
class ChainReport:
    count: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


async def verify_chain(session: AsyncSession, keys: Keys, batch: int = 1000) -> ChainReport:
    """Walk every link in order; the first inconsistency is reported with its record number."""
    expected_prev, expected_seq = GENESIS_HASH, 1
    async for rows in pages(session, select(AuditRecord), AuditRecord.seq, batch):
        for row in rows:
            if row.seq != expected_seq:
                found = f"missing (the next record present is {row.seq})"
                return ChainReport(expected_seq - 1, f"record {expected_seq}: {found}")
            problem = _link_problem(row, expected_prev)
            if problem:
                return ChainReport(expected_seq - 1, f"record {row.seq}: {problem}")
            expected_prev, expected_seq = row.hash, row.seq + 1
    count = expected_seq - 1
    checkpoint = await session.get(ChainCheckpoint, CHECKPOINT_ID)
    if checkpoint is None:
        return ChainReport(count, "checkpoint: missing")
    if not _checkpoint_is_genuine(keys, checkpoint):
        return ChainReport(count, "checkpoint: not signed by a known key (edited?)")
    if checkpoint.seq < count:
        return ChainReport(
            count,
            f"record {checkpoint.seq + 1}: past the checkpoint (record {checkpoint.seq}): "
            "appended outside the gateway",
        )
    if checkpoint.seq != count or checkpoint.hash != expected_prev:
        return ChainReport(
            count,
            f"record {count + 1}: missing (checkpoint says the chain ends at record "
            f"{checkpoint.seq}, found {count})",
        )
    return ChainReport(count)


async def signed_head(session: AsyncSession, keys: Keys) -> tuple[int, str] | None:
    """The head the signed checkpoint names, if the database agrees with it: its record there
    with that hash and nothing past it. What a witness may be sent; None for an empty chain or
    one that was edited (a record appended outside the gateway is never witnessed)."""
    checkpoint = await session.get(ChainCheckpoint, CHECKPOINT_ID)
    if checkpoint is None or checkpoint.seq == 0 or not _checkpoint_is_genuine(keys, checkpoint):
        return None
    newest = await session.scalar(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1))
    if newest is None or newest.seq != checkpoint.seq or newest.hash != checkpoint.hash:
        return None
    return checkpoint.seq, checkpoint.hash


async def record_verdicts(
    session: AsyncSession, keys: Keys, records: Sequence[AuditRecord]
) -> list[str]:
    """For one ticket's records, without walking the whole chain: each record's own hash, its
    link to the record before it, and the signed checkpoint still at or past it with its
    record present. "ok" or the problem, one per record; `gateway audit verify` walks every
    link."""
    checkpoint = await session.get(ChainCheckpoint, CHECKPOINT_ID)
    head = None if checkpoint is None else await session.get(AuditRecord, checkpoint.seq)
    if checkpoint is None or not _checkpoint_is_genuine(keys, checkpoint):
        ends = "checkpoint missing or not signed by a known key (edited?)"
    elif checkpoint.seq and (head is None or head.hash != checkpoint.hash):
        ends = f"the checkpoint's record {checkpoint.seq} is missing or differs (rolled back?)"
    else:
        ends = None
    verdicts = []
    for row in records:
        before = await session.get(AuditRecord, row.seq - 1) if row.seq > 1 else None
        expected_prev = GENESIS_HASH if row.seq == 1 else (before.hash if before else None)
        problem = (
            "the record before it is missing"
            if expected_prev is None
            else _link_problem(row, expected_prev)
        )
        if problem is None and checkpoint is not None and row.seq > checkpoint.seq:
            problem = f"past the checkpoint (record {checkpoint.seq})"
        verdicts.append(problem or ends or "ok")
    return verdicts


def _link_problem(row: AuditRecord, expected_prev: str) -> str | None:
    if not hmac.compare_digest(sha256_hex(row.body), row.hash):
        return "content does not match its hash (edited)"
    try:
        body = json.loads(row.body)
    except ValueError:
        return "body is not JSON (edited)"
    if not isinstance(body, dict):
        return "body is not a JSON object (edited)"
    if body.get("prev_hash") != expected_prev or row.prev_hash != expected_prev:
        return "does not link to the previous record (edited or reordered)"
    if body.get("record_id") != row.seq or body.get("ticket") != row.ticket:
        return "its number or ticket differs from its content (edited)"
    return None
