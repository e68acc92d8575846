"""Drains the outbox: at-least-once delivery with backoff, so a relay or helpdesk that is down
loses nothing and receives everything once it is back.

Items are leased before delivery (`SKIP LOCKED` on PostgreSQL, the write lock on SQLite), so
several workers on several nodes never hold the same item at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.witness import WITNESS_TICKET, mark_delivered
from gateway.clock import Clock
from gateway.logs import fields
from gateway.metrics import Metrics
from gateway.outbox.queue import DeliveryKind, Outbox
from gateway.outbox.transports import MailTransport
from gateway.outbox.webhook import WebhookSender
from gateway.storage.models import OutboxItem

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
POLL_SECONDS = 1.0
# How often the gauges are refreshed while nothing is being delivered; after a pass that did
# something they are refreshed at once.
OBSERVE_IDLE_SECONDS = 10.0
BATCH = 20
MAX_BACKOFF_SECONDS = 3600


class UnsealedItem(RuntimeError):
    """An outbox row the gateway did not queue, or one edited since."""


def backoff_seconds(attempts: int) -> float:
    """5 s, 10 s, 20 s … capped at an hour, with jitter so retries from many items spread out."""
    base = min(5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret


class OutboxWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        clock: Clock,
        mail: MailTransport,
        webhook: WebhookSender | None,
        write_turn: AbstractAsyncContextManager[Any] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`metrics`, when given, gets the outbox's depth and oldest item as `run` goes."""
        self._sessions = sessions
        self._metrics = metrics
        self._observed_at: float | None = None
        self._write_turn = write_turn or contextlib.nullcontext()
        self._outbox = outbox
        self._clock = clock
        self._mail = mail
        self._webhook = webhook

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Until `stopping` is set: a pass under way finishes, so nothing sent goes unmarked."""
        stopping = stopping or asyncio.Event()
        while not stopping.is_set():
            self._outbox.work_added.clear()
            try:
                delivered = await self.deliver_due()
                await self._observe_now_and_then(delivered)
            except Exception:
                log.exception("outbox pass failed")
                delivered = 0
            if delivered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.work_added.wait(), POLL_SECONDS)

    async def deliver_due(self) -> int:
        """One pass: lease what is due, try each, record the outcomes. Returns items attempted."""
        items = await self._lease()
        # A TaskGroup, not gather(): on shutdown it waits until every attempt has unwound, so
        # none is left using the database after the engine is closed.
        async with asyncio.TaskGroup() as attempts:
            tries = [attempts.create_task(self._attempt(item)) for item in items]
        await self._finish([attempt.result() for attempt in tries])
        return len(items)

    async def observe(self) -> None:
        """Refresh the outbox gauges from the database: every node sees the whole outbox."""
        if self._metrics is None:
            return
        async with self._write_turn, self._sessions() as session:
            depth, oldest = await outbox_backlog(session)
        self._metrics.outbox_observed(depth, oldest, self._clock)

    async def _observe_now_and_then(self, delivered: int) -> None:
        now = asyncio.get_running_loop().time()
        since = None if self._observed_at is None else now - self._observed_at
        if delivered or since is None or since >= OBSERVE_IDLE_SECONDS:
            self._observed_at = now
            await self.observe()

    async def _lease(self) -> list[OutboxItem]:
        now = self._clock.now()
        async with self._write_turn, self._sessions.begin() as session:
            items = list(
                await session.scalars(
                    select(OutboxItem)
                    .where(
                        OutboxItem.delivered_at.is_(None),
                        OutboxItem.next_attempt_at <= now,
                        or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now),
                    )
                    .order_by(OutboxItem.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for item in items:
                item.lease_until = now + LEASE
        return items

    async def _attempt(self, item: OutboxItem) -> tuple[OutboxItem, str | None]:
        """Deliver one item; the error text (kept for operators) or None when delivered."""
        try:
            await self._deliver(item)
        except Exception as exc:  # every failure is retried
            error = f"{type(exc).__name__}: {exc}"[:500]
            # The full text stays with the item (last_error); the log gets the type alone: a
            # relay's refusal names the recipient, a client's address.
            log.warning(
                "outbox delivery failed",
                extra=fields(
                    item=item.id, kind=item.kind, attempt=item.attempts + 1, error=_kind_of(exc)
                ),
            )
            return item, error
        return item, None

    async def _deliver(self, item: OutboxItem) -> None:
        if not self._outbox.sealed(item):
            log.error(
                "outbox item not delivered: edited outside the gateway", extra=fields(item=item.id)
            )
            raise UnsealedItem("edited in the database after it was queued: not delivered")
        if item.kind == DeliveryKind.MAIL:
            envelope = json.loads(item.destination)
            await self._mail.send(envelope["from"], envelope["to"], item.payload)
        elif item.kind == DeliveryKind.WEBHOOK:
            if self._webhook is None:
                raise RuntimeError("no webhook sender configured")
            timestamp = int(self._clock.now().timestamp())
            await self._webhook.send(item.destination, item.payload, item.delivery_id, timestamp)
        else:
            raise RuntimeError(f"unknown outbox item kind {item.kind!r}")

    async def _finish(self, results: list[tuple[OutboxItem, str | None]]) -> None:
        """Every outcome of the pass in one transaction: one commit, however many items."""
        if not results:
            return
        now = self._clock.now()
        async with self._write_turn, self._sessions.begin() as session:
            for item, error in results:
                values: dict[str, object] = {"attempts": item.attempts + 1, "lease_until": None}
                if error is None:
                    values["delivered_at"] = now
                    if item.ticket == WITNESS_TICKET:
                        await mark_delivered(session, self._outbox.keys, bytes(item.payload))
                else:
                    values["last_error"] = error
                    delay = backoff_seconds(item.attempts + 1)
                    values["next_attempt_at"] = now + timedelta(seconds=delay)
                await session.execute(
                    update(OutboxItem).where(OutboxItem.id == item.id).values(values)
                )


def _kind_of(exc: Exception) -> str:
    """The exception's type, with the status a relay or helpdesk answered when there is one."""
    for attribute in ("code", "status"):
        status = getattr(exc, attribute, None)
        if isinstance(status, int) and not isinstance(status, bool):
            return f"{type(exc).__name__} {status}"
    return type(exc).__name__


async def outbox_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """Undelivered items and when the oldest was queued, for metrics and alerts."""
    count, oldest = (
        await session.execute(
            select(func.count(OutboxItem.id), func.min(OutboxItem.created_at)).where(
                OutboxItem.delivered_at.is_(None)
            )
        )
    ).one()
    return int(count), oldest
