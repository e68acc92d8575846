"""Retention (RODO/GDPR): client content is removed once its period is over, evidence is not.

What a dispute needs for ever — who verified what, how, and what staff did — lives in the hash
chain, which holds client text only as SHA-256 digests (`audit.chain.chained_form`). So the
words themselves can go: transcripts, request and action texts after `transcripts_days`, the
original e-mails and the delivered outbox items (staff and the helpdesk have their copies) after
`raw_messages_days`, and `gateway audit verify` still finds every link intact.

Content is blanked rather than its rows deleted, so an export still shows who wrote when, and
the empty value is the marker: nothing else ever stores an empty transcript line, request text,
action text or mail (every conversation starts with the recording notice, the pipeline stores
only lines with text, the listener refuses data that is not a mail). That needs no schema change.

The work goes in batches of `BATCH_SIZE` (`storage.batches`), each a short transaction of its
own: a first purge of millions of rows never holds one giant transaction or lock.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, null, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import Clock
from gateway.config import RetentionSettings
from gateway.pipeline.model import RequestStatus
from gateway.storage.batches import apply, batches
from gateway.storage.models import (
    ChangeRequest,
    Conversation,
    InboundMail,
    OutboxItem,
    TranscriptMessage,
)

# Conversations (tens of lines each), mails or outbox items per transaction: each batch holds
# its locks for milliseconds, and a million rows still take only minutes.
BATCH_SIZE = 200
PURGED_TEXT = ""
PURGED_RAW = b""
# Requests something can still happen to: the client's code may still verify a held one, and
# staff have yet to record the action on a forwarded one (both need the text). Every other
# status is final: no step and no staff action moves a request out of it.
PENDING = frozenset({RequestStatus.HELD, RequestStatus.FORWARDED})


@dataclass(frozen=True, slots=True)
class PurgeReport:
    transcript_messages: int
    request_texts: int
    raw_messages: int
    delivered_items: int
    dry_run: bool = False

    def summary(self) -> str:
        """The one line `gateway retention purge` prints."""
        verb = "would purge" if self.dry_run else "purged"
        return (
            f"{verb} {self.transcript_messages} transcript messages, {self.request_texts} "
            f"request texts, {self.raw_messages} raw messages, {self.delivered_items} "
            "delivered outbox items"
        )


def is_purged(text: str | None) -> bool:
    """Whether retention removed this content (None is content that never existed)."""
    return text == PURGED_TEXT


async def purge_expired(
    engine: AsyncEngine,
    clock: Clock,
    retention: RetentionSettings,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> PurgeReport:
    """Remove what is past its period; with `dry_run`, only count it. Safe to run beside the
    server and on several nodes at once (rows another transaction holds are left for next time)."""
    now = clock.now()
    messages = requests = raw = delivered = 0
    if retention.transcripts_days:
        cutoff = now - timedelta(days=retention.transcripts_days)
        messages, requests = await _purge_conversations(engine, cutoff, dry_run, batch_size)
    if retention.raw_messages_days:
        cutoff = now - timedelta(days=retention.raw_messages_days)
        raw = await _purge_raw_mail(engine, cutoff, dry_run, batch_size)
        delivered = await _purge_delivered(engine, cutoff, dry_run, batch_size)
    return PurgeReport(messages, requests, raw, delivered, dry_run)


def _finished_before(cutoff: datetime) -> ColumnElement[bool]:
    """A conversation is finished, and its content past its period, when nothing in it waits
    (no request held for the client's code, none forwarded and awaiting staff's action record)
    and its last activity is older than the cutoff. The last activity is the latest of: its own
    update time (every client turn sets it), its newest transcript line (staff replies and the
    quick client notes do not touch the conversation row), and its requests' creation and
    closing (recording an action does not either). A client writing again after a purge simply
    continues it: the new lines have a period of their own."""
    line, request = TranscriptMessage, ChangeRequest
    recent_line = exists().where(line.conversation_id == Conversation.id, line.created_at >= cutoff)
    live_request = exists().where(
        request.conversation_id == Conversation.id,
        or_(
            request.status.in_(PENDING),
            request.created_at >= cutoff,
            request.closed_at >= cutoff,
        ),
    )
    return and_(Conversation.updated_at < cutoff, ~recent_line, ~live_request)


async def _purge_conversations(
    engine: AsyncEngine, cutoff: datetime, dry_run: bool, batch_size: int
) -> tuple[int, int]:
    line, request = TranscriptMessage, ChangeRequest
    has_content = or_(
        Conversation.subject.is_not(None),
        exists().where(line.conversation_id == Conversation.id, line.text != PURGED_TEXT),
        exists().where(
            request.conversation_id == Conversation.id,
            or_(request.request_text != PURGED_TEXT, request.action_text != PURGED_TEXT),
        ),
    )

    def pick(after: Any) -> Select[Any]:
        return (
            select(Conversation.id)
            .where(Conversation.id > after, _finished_before(cutoff), has_content)
            .order_by(Conversation.id)
            .limit(batch_size)
        )

    messages = requests = 0
    async with aclosing(batches(engine, pick, "", dry_run=dry_run)) as picked:
        async for connection, ids in picked:
            lines, texts = await _blank_conversations(connection, ids, cutoff, dry_run)
            messages, requests = messages + lines, requests + texts
    return messages, requests


async def _blank_conversations(
    connection: AsyncConnection, ids: list[str], cutoff: datetime, dry_run: bool
) -> tuple[int, int]:
    """Each statement repeats the row's own conditions: a line or request that arrived since
    the batch was picked is younger than the cutoff and stays."""
    line, request = TranscriptMessage, ChangeRequest
    lines = await apply(
        connection,
        line,
        [line.conversation_id.in_(ids), line.created_at < cutoff, line.text != PURGED_TEXT],
        {"text": PURGED_TEXT},
        dry_run=dry_run,
    )
    texts = await apply(
        connection,
        request,
        [
            request.conversation_id.in_(ids),
            request.status.not_in(PENDING),
            request.created_at < cutoff,
            or_(request.closed_at.is_(None), request.closed_at < cutoff),
            or_(request.request_text != PURGED_TEXT, request.action_text != PURGED_TEXT),
        ],
        {
            "request_text": PURGED_TEXT,
            "action_text": case((request.action_text.is_(None), null()), else_=PURGED_TEXT),
        },
        dry_run=dry_run,
    )
    await apply(  # an e-mail thread's subject is the client's words too
        connection,
        Conversation,
        [Conversation.id.in_(ids), Conversation.subject.is_not(None)],
        {"subject": None},
        dry_run=dry_run,
    )
    return lines, texts


async def _purge_raw_mail(
    engine: AsyncEngine, cutoff: datetime, dry_run: bool, batch_size: int
) -> int:
    """The originals of processed mail, except one a pending request will still attach when it
    is forwarded (or that staff, not yet done, may need)."""
    mail = InboundMail
    needed = exists().where(
        ChangeRequest.inbound_mail_id == mail.id, ChangeRequest.status.in_(PENDING)
    )
    expired = [mail.processed_at < cutoff, func.length(mail.raw) > 0, ~needed]

    def pick(after: Any) -> Select[Any]:
        return select(mail.id).where(mail.id > after, *expired).order_by(mail.id).limit(batch_size)

    purged = 0
    async with aclosing(batches(engine, pick, 0, dry_run=dry_run)) as picked:
        async for connection, ids in picked:
            purged += await apply(
                connection, mail, [mail.id.in_(ids), *expired], {"raw": PURGED_RAW}, dry_run=dry_run
            )
    return purged


async def _purge_delivered(
    engine: AsyncEngine, cutoff: datetime, dry_run: bool, batch_size: int
) -> int:
    """Delivered outbox items: copies of records and mails that already reached their
    recipients; nothing reads them again (the worker only ever looks at undelivered ones)."""
    item = OutboxItem
    expired = [item.delivered_at.is_not(None), item.delivered_at < cutoff]

    def pick(after: Any) -> Select[Any]:
        return select(item.id).where(item.id > after, *expired).order_by(item.id).limit(batch_size)

    deleted = 0
    async with aclosing(batches(engine, pick, 0, dry_run=dry_run)) as picked:
        async for connection, ids in picked:
            deleted += await apply(
                connection, item, [item.id.in_(ids), *expired], None, dry_run=dry_run
            )
    return deleted
