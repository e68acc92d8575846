"""The evidence bundle of one ticket, for a dispute: what was asked, what was said, who verified
it and how, what staff did, and the hashes that tie it all into the chain.

After the retention period the texts are gone (`gateway.retention`): the bundle says so, shows
them as null, and still gives the digests the chain holds for them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.agreement import disagreement, lines_for
from gateway.audit.chain import CHECKPOINT_ID, CONTENT_FIELDS, record_verdicts, sha256_hex
from gateway.audit.witness import last_witnessed
from gateway.keys import Keys
from gateway.retention import is_purged
from gateway.storage.models import AuditRecord, ChainCheckpoint, ChangeRequest, TranscriptMessage
from gateway.timefmt import iso


class UnknownTicket(LookupError):
    pass


def _iso(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


async def export_ticket(session: AsyncSession, keys: Keys, ticket: str) -> dict[str, Any]:
    request = await session.scalar(select(ChangeRequest).where(ChangeRequest.ticket == ticket))
    if request is None:
        raise UnknownTicket(ticket)
    transcript = (
        await session.scalars(
            select(TranscriptMessage)
            .where(TranscriptMessage.conversation_id == request.conversation_id)
            .order_by(TranscriptMessage.id)
        )
    ).all()
    records = (
        await session.scalars(
            select(AuditRecord).where(AuditRecord.ticket == ticket).order_by(AuditRecord.seq)
        )
    ).all()
    checkpoint = await session.get(ChainCheckpoint, CHECKPOINT_ID)
    # Only a marker that is signed and whose record is still there vouches for anything.
    witnessed = await last_witnessed(session, keys)
    verdict = disagreement(request, records, await lines_for(session, [request], records))
    links = [
        {
            "record_id": row.seq,
            "kind": row.kind,
            "chained_body": json.loads(row.body),
            "prev_hash": row.prev_hash,
            "hash": row.hash,
            # The newest head sent to the witness covers every record up to it.
            "witnessed_in_head": (
                witnessed.seq if witnessed is not None and row.seq <= witnessed.seq else None
            ),
        }
        for row in records
    ]
    verification = next((r for r in links if r["kind"] == "verification"), None)
    chained_lines = set(verification["chained_body"].get("lines") or []) if verification else set()
    # The transcript's first line, the recording notice, is never empty until it is purged.
    purged = any(is_purged(row.text) for row in transcript) or is_purged(request.action_text)
    fields = {
        column.name: _iso(getattr(request, column.key))
        for column in ChangeRequest.__table__.columns
        if column.key not in ("id", "identifier_hash", "account_id")
    }
    for name in CONTENT_FIELDS:
        if purged and is_purged(fields[name]):
            fields[name] = None
    return {
        "ticket": ticket,
        "content_purged": purged,
        "request": fields,
        "request_text_sha256": _request_digest(request, verification, purged),
        # "chained": the line is one the verification record names by its digest; any other
        # line (the bot's and staff's words among them) is the database's word alone.
        "transcript": [
            {
                "author": row.author,
                "text": None if is_purged(row.text) else row.text,
                "ts": _iso(row.created_at),
                "chained": row.id in chained_lines,
            }
            for row in transcript
        ],
        "chain_verdict": {
            # "ok": the request row agrees with its chained records, else the first field
            # that differs; per record, its hash, its link and the checkpoint past it
            # (`gateway audit verify` walks every link).
            "request": verdict or "ok",
            "records": await record_verdicts(session, keys, records),
        },
        "verification_record": verification,
        "staff_actions": [r for r in links if r["kind"] == "action"],
        "chain_head": (
            {"record_id": checkpoint.seq, "hash": checkpoint.hash} if checkpoint else None
        ),
        "last_witnessed_head": (
            {"record_id": witnessed.seq, "hash": witnessed.hash, "token": witnessed.token}
            if witnessed
            else None
        ),
        "how_to_check": (
            "hash = SHA-256 of chained_body as stored (canonical JSON, keys sorted, no spaces); "
            "chained_body.prev_hash is the hash of the record before it; content fields appear "
            "as *_sha256 of the text (compare request_text_sha256); `gateway audit verify` "
            "checks the whole chain up to chain_head. content_purged: the texts were removed "
            "after their retention period and show as null; the chain keeps their digests, so "
            "every hash above still checks."
        ),
    }


def _request_digest(
    request: ChangeRequest, verification: dict[str, Any] | None, purged: bool
) -> str | None:
    """The digest of the request's text: computed while the text is kept; once it is purged,
    the one the verification record chained (None if the request was never forwarded)."""
    if not (purged and is_purged(request.request_text)):
        return sha256_hex(request.request_text or "")
    if verification is None:
        return None
    digest = verification["chained_body"].get("request_text_sha256")
    return digest if isinstance(digest, str) else None
