"""Whether a request's row says what the chain says about it.

The console, the export and the gate for staff actions read `change_requests`, a table anyone
with the database can edit. The chain cannot be edited unseen (`gateway.audit.chain`), so every
field staff rely on is held against it: a forwarded or closed request must have its verification
record, a closed one its action record, and each field they share must agree (text by its
digest, as the chain keeps it). A request that claims to be verified with no record behind it,
or a held one the chain says was forwarded, is a disagreement too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.chain import sha256_hex
from gateway.audit.records import ACTION, DENIAL, EXPIRY, VERIFICATION
from gateway.pipeline.model import Author, RequestStatus, Verification
from gateway.redaction import redact
from gateway.retention import PENDING, is_purged
from gateway.storage.batches import pages
from gateway.storage.models import AuditRecord, ChangeRequest, TranscriptMessage
from gateway.timefmt import iso

# The statuses a request reaches only through a chained record, and the verifications only a
# forwarding gives; anything else is a request no record speaks for.
_FORWARDED = frozenset({RequestStatus.FORWARDED, RequestStatus.CLOSED})
_UNBACKED = frozenset({Verification.UNVERIFIED, Verification.UNMATCHED})
_SHARED_FIELDS = (
    "channel",
    "stage_required",
    "verification",
    "login",
    "identified_by",
    "method",
    "sender_authentication",
    "requested_by_staff",
)


def disagreement(
    request: ChangeRequest,
    records: Sequence[AuditRecord],
    lines: Sequence[TranscriptMessage] | None = None,
) -> str | None:
    """The first field of the row the chain does not back, in words naming it; None if all
    agree. `records`: the chain's records of the request's ticket, in order; `lines`: the
    transcript lines linked to the request or named by its record (None: not checked)."""
    verifications = [r for r in records if r.kind == VERIFICATION]
    actions = [r for r in records if r.kind == ACTION]
    expiries = [r for r in records if r.kind == EXPIRY]
    if (request.status == RequestStatus.EXPIRED) != bool(expiries):
        if expiries:
            return f"status is {request.status!r}, but record {expiries[0].seq} withdrew it"
        return "status is 'expired' with no chained expiry record"
    denials = [r for r in records if r.kind == DENIAL]
    if (request.verification == Verification.DENIED_BY_CLIENT) != bool(denials):
        if denials:
            return (
                f"verification is {request.verification!r}, but record {denials[0].seq} denied it"
            )
        return "verification is 'denied_by_client' with no chained denial record"
    if denials:
        return _denial_differs(request, _body(denials[0]), denials[0].seq, verifications)
    if request.status not in _FORWARDED:
        if verifications:
            return f"status is {request.status!r}, but record {verifications[0].seq} forwarded it"
        if request.verification not in _UNBACKED:
            return f"verification is {request.verification!r} with no chained record"
        if request.record_seq is not None:
            return f"record_seq points at record {request.record_seq}, which is not its own"
        return None
    record = next((r for r in verifications if r.seq == request.record_seq), None)
    if record is None:
        return f"status is {request.status!r} with no chained verification record of its own"
    body = _body(record)
    problem = _differs(request, body, record.seq) or (
        _lines_differ(request, body, lines, record.seq) if lines is not None else None
    )
    if problem:
        return problem
    if request.status == RequestStatus.CLOSED:
        if not actions:
            return "status is 'closed' with no chained action record"
        return _action_differs(request, _body(actions[-1]), actions[-1].seq)
    if actions:
        return f"status is {request.status!r}, but record {actions[-1].seq} closed it"
    return None


def _denial_differs(
    request: ChangeRequest,
    body: Mapping[str, Any],
    seq: int,
    verifications: Sequence[AuditRecord],
) -> str | None:
    """Denied while held (no verification record), or after it was forwarded, during a
    cooling-off hold (its own verification record before the denial): cancelled either way."""
    if request.status != RequestStatus.CANCELLED:
        return f"status is {request.status!r}, but record {seq} denied it"
    own = request.record_seq is not None and any(r.seq == request.record_seq for r in verifications)
    if verifications and not own:
        return f"record {verifications[0].seq} forwarded it, but record_seq is {request.record_seq}"
    if request.record_seq is not None and not own:
        return f"record_seq points at record {request.record_seq}, which is not its own"
    for name in ("channel", "login", "conversation_id"):
        chained = body.get("conversation" if name == "conversation_id" else name)
        if getattr(request, name) != chained:
            return _field(name, getattr(request, name), chained, seq)
    return None


def _body(record: AuditRecord) -> Mapping[str, Any]:
    body = json.loads(record.body)
    return body if isinstance(body, dict) else {}


def _differs(request: ChangeRequest, body: Mapping[str, Any], seq: int) -> str | None:
    for name in _SHARED_FIELDS:
        if getattr(request, name) != body.get(name):
            return _field(name, getattr(request, name), body.get(name), seq)
    if request.conversation_id != body.get("conversation"):
        return _field("conversation_id", request.conversation_id, body.get("conversation"), seq)
    if iso(request.verified_at) != body.get("verified_at"):
        return _field("verified_at", iso(request.verified_at), body.get("verified_at"), seq)
    if "duties" in body and json.loads(request.duties or "{}") != body["duties"]:
        return _field("duties", request.duties, body["duties"], seq)
    if request.intent != body.get("intent"):
        return _field("intent", request.intent, body.get("intent"), seq)
    intents = json.loads(request.intents or "[]") or [request.intent]
    if intents != body.get("intents"):
        return _field("intents", intents, body.get("intents"), seq)
    if not _same_name(request.service, body.get("service")):
        return _field("service", request.service, body.get("service"), seq)
    services = json.loads(request.services or "[]")
    chained_services = body.get("services") or []
    if len(services) != len(chained_services) or not all(
        _same_name(mine, chained) for mine, chained in zip(services, chained_services, strict=False)
    ):
        return _field("services", services, chained_services, seq)
    if json.loads(request.destinations or "[]") != body.get("destinations", []):
        return _field("destinations", request.destinations, body.get("destinations"), seq)
    if "held_since" in body and iso(request.created_at) != body["held_since"]:
        return _field("created_at", iso(request.created_at), body["held_since"], seq)
    if not _same_text(request.request_text, body.get("request_text_sha256"), _final(request)):
        return f"request_text differs from the digest record {seq} chained"
    return None


def _lines_differ(
    request: ChangeRequest, body: Mapping[str, Any], lines: Sequence[TranscriptMessage], seq: int
) -> str | None:
    """The lines linked to the request are those the record names, each still in its
    conversation, the client's, with the text whose digest was chained."""
    chained = body.get("lines")
    if not isinstance(chained, list):
        return None
    linked = sorted(row.id for row in lines if row.request_id == request.id)
    if linked != sorted(chained):
        return f"transcript lines {linked} are linked to it, record {seq} chained {chained}"
    digests = body.get("line_sha256")
    if not isinstance(digests, list):
        return None  # a record from before lines were chained by digest
    by_id = {row.id: row for row in lines}
    for line_id, digest in zip(chained, digests, strict=False):
        row = by_id.get(line_id)
        if row is None:
            return f"transcript line {line_id}, chained by record {seq}, is missing"
        if row.conversation_id != request.conversation_id or row.author != Author.CLIENT.value:
            return f"transcript line {line_id} was moved or given another author"
        if not _same_text(row.text, digest, _final(request)):
            return f"transcript line {line_id} differs from the digest record {seq} chained"
    return None


def _final(request: ChangeRequest) -> bool:
    """Retention blanks texts only of requests nothing can happen to any more: an empty text
    on a held or forwarded one is an edit, not a purge."""
    return request.status not in PENDING


def _action_differs(request: ChangeRequest, body: Mapping[str, Any], seq: int) -> str | None:
    if body.get("request_record_id") != request.record_seq:
        return f"record {seq} acted on record {body.get('request_record_id')}, not this request's"
    if request.closed_by != body.get("staff"):
        return _field("closed_by", request.closed_by, body.get("staff"), seq)
    if "recorded_at" in body and iso(request.closed_at) != body["recorded_at"]:
        return _field("closed_at", iso(request.closed_at), body["recorded_at"], seq)
    if not _same_text(request.action_text, body.get("action_text_sha256"), _final(request)):
        return f"action_text differs from the digest record {seq} chained"
    return None


def _same_name(mine: str | None, chained: Any) -> bool:
    """Records show names masked as staff read them; the row keeps them as the client typed."""
    if mine is None:
        return chained is None
    return chained in (mine, redact(mine))


def _same_text(mine: str | None, digest: Any, purgeable: bool) -> bool:
    """Purged text is gone by design; the chain keeps its digest for the export."""
    return (purgeable and is_purged(mine)) or sha256_hex(mine or "") == digest


def _field(name: str, mine: Any, chained: Any, seq: int) -> str:
    return f"{name} is {mine!r}, record {seq} says {chained!r}"


async def first_disagreement(session: AsyncSession, batch: int = 500) -> str | None:
    """Every request row against the chain, in id order, then every chained ticket against
    the rows; the first that differs, named by table, id and field."""
    async for rows in pages(session, select(ChangeRequest), ChangeRequest.id, batch):
        chained = list(
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.ticket.in_([row.ticket for row in rows]))
                .order_by(AuditRecord.seq)
            )
        )
        records: dict[str, list[AuditRecord]] = {}
        for record in chained:
            records.setdefault(record.ticket, []).append(record)
        lines = await lines_for(session, rows, chained)
        for row in rows:
            problem = disagreement(row, records.get(row.ticket, []), lines)
            if problem:
                return f"change_requests {row.id} ({row.ticket}): {problem}"
    orphan = await session.scalar(
        select(AuditRecord)
        .where(~exists().where(ChangeRequest.ticket == AuditRecord.ticket))
        .order_by(AuditRecord.seq)
        .limit(1)
    )
    if orphan is not None:
        return f"record {orphan.seq} ({orphan.ticket}): its request is missing from change_requests"
    return None


async def lines_for(
    session: AsyncSession, requests: Sequence[ChangeRequest], records: Iterable[AuditRecord]
) -> list[TranscriptMessage]:
    """The transcript lines linked to these requests or named by their records."""
    named = {
        line_id
        for record in records
        if record.kind == VERIFICATION
        for line_id in _body(record).get("lines") or []
        if isinstance(line_id, int)
    }
    ids = [request.id for request in requests]
    query = select(TranscriptMessage).where(
        TranscriptMessage.request_id.in_(ids) | TranscriptMessage.id.in_(named)
    )
    return list(await session.scalars(query))


async def request_disagreement(session: AsyncSession, request: ChangeRequest) -> str | None:
    """One request against the chain, its records and its transcript lines loaded."""
    records = await records_of(session, request.ticket)
    return disagreement(request, records, await lines_for(session, [request], records))


async def records_of(session: AsyncSession, ticket: str) -> list[AuditRecord]:
    query = select(AuditRecord).where(AuditRecord.ticket == ticket).order_by(AuditRecord.seq)
    return list(await session.scalars(query))
