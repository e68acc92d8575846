"""The chain's head outside the database, so a rollback cannot pass unseen.

The checkpoint MAC stops anyone without the key from moving the head back; someone with a
copy of an old checkpoint row (a backup, a snapshot) needs no key. So the head also leaves the
database as it grows: in every staff mail (`X-Gateway-Chain-Head`) and webhook body
(`chain_head`), and every `audit.witness_seconds` to a witness of the operator's choice. Each
copy is one token, `chain-head seq=N hash=H key=K mac=M`; `gateway audit verify --witness FILE`
reads every token in a file (the witness file, saved staff mails, a webhook log: anything that
holds them) and checks that the database still holds each head it names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.keys import Keys, key_id
from gateway.storage.models import AuditRecord, ChainCheckpoint

TOKEN_RE = re.compile(
    r"chain-head seq=(?P<seq>\d{1,18}) hash=(?P<hash>[0-9a-f]{64}) "
    r"key=(?P<key>[0-9A-Za-z_-]{1,64}) mac=(?P<mac>[0-9a-f]{64})"
)
# The last head sent to the witness, kept beside the chain's checkpoint (row 1), so that no
# node sends the same head twice. It is signed like a token and checked like one: an edited
# marker neither stops the writer nor vouches for a record in the export.
WITNESSED_ID = 2


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    key: str
    mac: str

    @property
    def token(self) -> str:
        return f"chain-head seq={self.seq} hash={self.hash} key={self.key} mac={self.mac}"


def _mac(secret: bytes, seq: int, head: str) -> str:
    return hmac.new(secret, f"chain-witness:{seq}:{head}".encode(), hashlib.sha256).hexdigest()


def head_of(keys: Keys, seq: int, head: str) -> Head:
    return Head(seq, head, key_id(keys.secret), _mac(keys.secret, seq, head))


def genuine(keys: Keys, head: Head) -> bool:
    """Signed by one of our keys: a forged token cannot make a good database look rolled
    back, nor name a head that never was."""
    for secret in keys.all_secrets:
        if key_id(secret) == head.key:
            return hmac.compare_digest(_mac(secret, head.seq, head.hash), head.mac)
    return False


def marker_head(marker: ChainCheckpoint | None) -> Head | None:
    return None if marker is None else Head(marker.seq, marker.hash, marker.key_id, marker.mac)


async def marker_problem(session: AsyncSession, keys: Keys) -> str | None:
    """The marker of the last head sent, checked as one more witnessed head."""
    head = marker_head(await session.get(ChainCheckpoint, WITNESSED_ID))
    problem = head and await witness_problem(session, keys, [head])
    return f"chain_checkpoint {WITNESSED_ID} (the last head sent): {problem}" if problem else None


async def last_witnessed(session: AsyncSession, keys: Keys) -> Head | None:
    """The last head sent to the witness, if its marker is genuine and the database still
    holds the record it names with the same hash; else None (nothing vouched for)."""
    head = marker_head(await session.get(ChainCheckpoint, WITNESSED_ID))
    if head is None or await witness_problem(session, keys, [head]):
        return None
    return head


def heads_in(text: str) -> list[Head]:
    """Every token in a text; runs of white space count as one, since a mail header holding
    one is folded over lines."""
    unfolded = " ".join(text.split())
    return [
        Head(int(found["seq"]), found["hash"], found["key"], found["mac"])
        for found in TOKEN_RE.finditer(unfolded)
    ]


def malformed_heads(text: str) -> int:
    """How many `chain-head` mentions are not a whole token: a line damaged in the copy (or
    on purpose) must fail the check, not drop out of it."""
    unfolded = " ".join(text.split())
    return unfolded.count("chain-head") - len(TOKEN_RE.findall(unfolded))


async def witness_problem(session: AsyncSession, keys: Keys, heads: list[Head]) -> str | None:
    """Every witnessed head must be a record the database still holds, with the same hash."""
    for head in sorted(set(heads), key=lambda h: h.seq):
        if not genuine(keys, head):
            return f"witness: {head.token[:40]}… is not signed by a known key"
        record = await session.get(AuditRecord, head.seq)
        if record is None:
            return (
                f"witness: record {head.seq} was witnessed but is missing from the database "
                "(rolled back or truncated)"
            )
        if not hmac.compare_digest(record.hash, head.hash):
            return (
                f"witness: record {head.seq} differs from the one witnessed "
                "(the chain was rolled back and rewritten)"
            )
    return None


def append_to_file(path: Path, head: Head, at: str) -> None:
    """One line, written and synced before the call returns: the file is append-only by use
    (and by `chattr +a` or a WORM mount where the operator can)."""
    line = f"{head.token} at={at}\n".encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def webhook_body(head: Head, at: str) -> bytes:
    return json.dumps({"chain_head": head.token, "at": at}, sort_keys=True).encode()


async def current_head(session: AsyncSession) -> tuple[int, str] | None:
    row = await session.scalar(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1))
    return None if row is None else (row.seq, row.hash)
