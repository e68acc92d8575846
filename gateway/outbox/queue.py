"""Adding deliveries: rows in the caller's transaction, so a crash can never keep half of a
decision (a verified request without its delivery, or a delivery without its record)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from email.message import EmailMessage
from enum import StrEnum

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.keys import Keys
from gateway.storage.models import OutboxItem

_WAKE_HOOKED = "outbox_wake_hooked"


class DeliveryKind(StrEnum):
    MAIL = "mail"
    WEBHOOK = "webhook"


class Outbox:
    def __init__(self, clock: Clock, keys: Keys) -> None:
        self._clock = clock
        self._keys = keys
        # Set after a commit that added work, so the worker need not wait for its next poll.
        self.work_added = asyncio.Event()

    def add_mail(
        self,
        session: AsyncSession,
        message: EmailMessage,
        recipients: list[str],
        *,
        envelope_sender: str = "",
        ticket: str | None = None,
    ) -> None:
        """Queue a message; `envelope_sender` empty means the null return path (<>)."""
        destination = json.dumps({"from": envelope_sender, "to": recipients})
        self._add(session, DeliveryKind.MAIL, destination, message.as_bytes(), ticket)

    def add_webhook(
        self, session: AsyncSession, url: str, body: bytes, ticket: str | None = None
    ) -> None:
        self._add(session, DeliveryKind.WEBHOOK, url, body, ticket)

    def _add(
        self,
        session: AsyncSession,
        kind: DeliveryKind,
        destination: str,
        payload: bytes,
        ticket: str | None,
    ) -> None:
        now = self._clock.now()
        delivery_id = str(uuid.uuid4())
        session.add(
            OutboxItem(
                kind=kind,
                destination=destination,
                ticket=ticket,
                payload=payload,
                delivery_id=delivery_id,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                last_error="",
                seal=self._keys.seal(_sealed_text(kind, destination, delivery_id, payload)),
            )
        )
        if not session.info.get(_WAKE_HOOKED):
            session.info[_WAKE_HOOKED] = True
            event.listen(session.sync_session, "after_commit", self._wake, once=True)

    @property
    def keys(self) -> Keys:
        return self._keys

    def sealed(self, item: OutboxItem) -> bool:
        """Queued by the gateway and unchanged since: whoever can write the database can add
        or edit a row, but not seal it (the staff copy that names a login, the witness)."""
        text = _sealed_text(item.kind, item.destination, item.delivery_id, bytes(item.payload))
        return self._keys.sealed(item.seal, text)

    def _wake(self, session: Session) -> None:
        session.info.pop(_WAKE_HOOKED, None)
        self.work_added.set()


def _sealed_text(kind: str, destination: str, delivery_id: str, payload: bytes) -> str:
    return f"outbox:{kind}:{destination}:{delivery_id}:{hashlib.sha256(payload).hexdigest()}"
