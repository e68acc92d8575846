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

import hmac
import json
import os
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.keys import Keys
from gateway.storage.models import AuditRecord, ChainCheckpoint

TOKEN_RE = re.compile(
    r"chain-head seq=(?P<seq>\d{1,18}) hash=(?P<hash>[0-9a-f]{64}) "
    r"key=(?P<key>[0-9A-Za-z_-]{1,64}) mac=(?P<mac>[0-9a-f]{64})"
)
# The last head sent to the witness, kept beside the chain's checkpoint (row 1), so that no
# node sends the same head twice. It is signed like a token and checked like one: an edited
# marker neither stops the writer nor vouches for a record in the export.
WITNESSED_ID = 2
# The outbox's mark on a delivery that carries a head (mailbox or webhook witness).
WITNESS_TICKET = "HEAD"


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    key: str
    mac: str

    @property
    def token(self) -> str:
        return f"chain-head seq={self.seq} hash={self.hash} key={self.key} mac={self.mac}"


def _message(seq: int, head: str) -> str:
    return f"chain-witness:{seq}:{head}"


def head_of(keys: Keys, seq: int, head: str) -> Head:
    return Head(seq, head, *keys.sign(_message(seq, head)))


def genuine(keys: Keys, head: Head) -> bool:
    """Signed by one of our keys: a forged token cannot make a good database look rolled
    back, nor name a head that never was."""
    return keys.signed(head.key, head.mac, _message(head.seq, head.hash))


async def mark_witnessed(session: AsyncSession, keys: Keys, head: Head) -> None:
    """The head has left the database (written to the file, or delivered by the outbox):
    the marker moves to it, signed."""
    if not genuine(keys, head):
        return
    marker = await session.get(ChainCheckpoint, WITNESSED_ID, with_for_update=True)
    if marker is None:
        marker = ChainCheckpoint(id=WITNESSED_ID)
        session.add(marker)
    marker.seq, marker.hash, marker.key_id, marker.mac = head.seq, head.hash, head.key, head.mac


async def mark_delivered(session: AsyncSession, keys: Keys, payload: bytes) -> None:
    """The outbox delivered a witness mail or webhook: the head it carried is witnessed."""
    heads = set(heads_in(witness_text(payload)))
    if len(heads) == 1:
        await mark_witnessed(session, keys, heads.pop())


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


# A file of mail: a Maildir file or a single saved message (a header line first), or an mbox.
_MAIL_START = re.compile(r"\A(?:From \S|[A-Za-z][\w-]{0,76}:[ \t])")
_MBOX_SEPARATOR = re.compile(rb"^From \S[^\n]*\n", re.MULTILINE)


def witness_text(raw: bytes) -> str:
    """The text a witness file holds, for `heads_in`: saved mails (the mailbox witness, staff
    mails) read as a mail client reads them (headers unfolded, bodies out of their transfer
    encoding, so "seq=3D8" is "seq=8"); the witness file and webhook logs as they are."""
    text = raw.decode("utf-8", "replace")
    if not _MAIL_START.match(text):
        return text
    found: list[str] = []
    for chunk in _MBOX_SEPARATOR.split(raw):
        if not chunk.strip():
            continue
        message = message_from_bytes(chunk, policy=compat32)
        found += [str(value) for value in message.values()]
        for part in message.walk():
            payload = None if part.is_multipart() else part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found.append(payload.decode("utf-8", "replace"))
    return "\n".join(found)


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
