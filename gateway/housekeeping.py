"""What the gateway does on its own clock: withdraw requests held too long for the client's code,
and send the chain's head to its witness.

Each conversation's expiry is one turn through the pipeline (`ExpireHolds`), so the transition
table, the chain and the client's channel see it as they see any actor. Every node may run the
loop: a turn that finds nothing older than the cutoff (another node was first) does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.chain import signed_head
from gateway.audit.witness import (
    WITNESS_TICKET,
    WITNESSED_ID,
    append_to_file,
    genuine,
    head_of,
    mark_witnessed,
    marker_head,
    webhook_body,
)
from gateway.config import AuditSettings, StaffSettings
from gateway.core import Core
from gateway.logs import fields
from gateway.outbox.messages import plain_message
from gateway.pipeline.model import EXPIRY_ACTOR, ExpireHolds, RequestStatus
from gateway.storage.models import ChainCheckpoint, ChangeRequest, OutboxItem
from gateway.timefmt import iso

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
BATCH = 200


async def expire_holds(core: Core) -> int:
    """One pass: every conversation with a request held since before the cutoff; returns how
    many conversations were given the turn."""
    cutoff = core.clock.now() - timedelta(hours=core.settings.requests.hold_hours)
    async with core.sessions() as session:
        conversations = list(
            await session.scalars(
                select(ChangeRequest.conversation_id)
                .where(
                    ChangeRequest.status == RequestStatus.HELD,
                    ChangeRequest.created_at < cutoff,
                )
                .distinct()
                .limit(BATCH)
            )
        )
    for conversation in conversations:
        try:
            await core.pipeline.handle(ExpireHolds(EXPIRY_ACTOR, conversation, cutoff))
        except Exception:  # noqa: BLE001 - one unreadable row must not keep the rest held
            log.exception(
                "expiry of one conversation failed", extra=fields(conversation=conversation)
            )
    return len(conversations)


async def run(core: Core, stopping: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
    """Until asked to stop; a failed pass is logged and retried on the next tick."""
    audit = core.settings.audit
    witnessed_at = 0.0
    while not stopping.is_set():
        try:
            await expire_holds(core)
            if audit.witness and time.monotonic() - witnessed_at >= audit.witness_seconds:
                await publish_head(core, audit)
                witnessed_at = time.monotonic()
        except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
            log.exception("housekeeping pass failed")
        wait = min(interval, audit.witness_seconds) if audit.witness else interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), wait)


async def publish_head(
    core: Core, audit: AuditSettings, staff: StaffSettings | None = None
) -> bool:
    """Send the chain's head to the witness if it differs from the last one witnessed (by any
    node: the last witnessed head is kept, signed, beside the checkpoint). A head rewritten at a
    witnessed number, or moved back, differs too, so the witness records it and the check
    then sees both. True if one was sent."""
    if not audit.witness:
        return False
    staff = staff or core.settings.staff
    async with core.sessions.begin() as session:
        head = await signed_head(session, core.keys)
        marker = await session.get(ChainCheckpoint, WITNESSED_ID, with_for_update=True)
        last = marker_head(marker)
        if head is None:
            return False
        if last is not None and not genuine(core.keys, last):
            # Someone edited it (to stop the witness, or to vouch for an old head): the head
            # is sent again, and the edit is said where an operator looks.
            log.warning("the witness marker is not signed by a known key: sending the head again")
        elif last is not None and (last.seq, last.hash) == head:
            return False
        signed = head_of(core.keys, *head)
        now = core.clock.now()
        kind, _, target = audit.witness.partition(":")
        if kind in ("mailbox", "webhook") and await _head_on_its_way(session):
            return False  # the marker moves when the outbox delivers it (mark_witnessed)
        if kind == "mailbox":
            message = plain_message(
                sender=core.settings.outbound.sender,
                to=staff.mailbox,
                subject=f"[gateway] audit chain head {signed.seq}",
                body=f"{signed.token}\n\nKeep this mail: `gateway audit verify --witness`"
                " proves the database still holds this head.\n",
                now=now,
                headers={"X-Gateway-Chain-Head": signed.token},
            )
            core.outbox.add_mail(
                session,
                message,
                [staff.mailbox],
                envelope_sender=core.settings.outbound.sender,
                ticket=WITNESS_TICKET,
            )
        elif kind == "webhook":
            body = webhook_body(signed, iso(now))
            core.outbox.add_webhook(session, staff.webhook_url, body, ticket=WITNESS_TICKET)
        else:
            # Written before the commit: a line for a head whose marker then fails to commit
            # is only written again next time, which the check reads as the same head.
            append_to_file(Path(target), signed, iso(now))
            await mark_witnessed(session, core.keys, signed)
    return True


async def _head_on_its_way(session: AsyncSession) -> bool:
    """A head handed to the outbox and not yet delivered: one at a time, and "witnessed" only
    once it has left (a head queued in the database is not outside it)."""
    waiting = await session.scalar(
        select(OutboxItem.id)
        .where(OutboxItem.ticket == WITNESS_TICKET, OutboxItem.delivered_at.is_(None))
        .limit(1)
    )
    return waiting is not None
