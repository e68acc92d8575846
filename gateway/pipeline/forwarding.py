"""Handing a request to staff: its verification record joins the hash chain, and the same
record goes to every configured path (console queue, staff mailbox, webhook) through the outbox.

Only called for requests whose requirement is met; an unverified change request never gets here,
so it can never reach the mailbox or the webhook.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.chain import AuditChain
from gateway.clock import Clock
from gateway.config import OutboundSettings, StaffSettings
from gateway.metrics import Metrics
from gateway.outbox.messages import plain_message
from gateway.outbox.queue import Outbox
from gateway.pipeline.model import RequestStatus, Verification
from gateway.pipeline.staff_copy import masked_original
from gateway.storage.models import ChangeRequest, Conversation
from policies import Duties

VERIFICATION_HEADER = {
    Verification.VERIFIED: "verified",
    Verification.IDENTIFIED: "identified",
    Verification.NOT_REQUIRED: "not-required",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def verification_record(
    request: ChangeRequest, conversation: Conversation, duties: Duties, now: datetime
) -> dict[str, Any]:
    """Contract section 10's fields, plus the conversation and the duties staff must honour."""
    hold_until = now + timedelta(seconds=duties.cooling_off_seconds)
    return {
        "channel": request.channel,
        "intent": request.intent,
        "stage_required": request.stage_required,
        "verification": request.verification,
        "login": request.login,
        "service": request.service,
        "identified_by": request.identified_by,
        "method": request.method,
        "verified_at": _iso(request.verified_at),
        "failed_attempts": conversation.failed_attempts,
        "client": conversation.client,
        "sender_authentication": request.sender_authentication,
        "request_text": request.request_text,
        "conversation": conversation.id,
        "recorded_at": _iso(now),
        "notify_contact": duties.notify_contact,
        "hold_until": _iso(hold_until) if duties.cooling_off_seconds else None,
    }


class Forwarder:
    def __init__(
        self,
        staff: StaffSettings,
        outbound: OutboundSettings,
        chain: AuditChain,
        outbox: Outbox,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._staff = staff
        self._outbound = outbound
        self._chain = chain
        self._outbox = outbox
        self._clock = clock
        self._metrics = metrics

    async def forward(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        conversation: Conversation,
        duties: Duties,
        original: bytes | None = None,
        needs_human: bool = False,
    ) -> dict[str, Any]:
        verification = Verification(request.verification)
        if verification not in VERIFICATION_HEADER:
            raise ValueError(f"refusing to forward a request that is {verification}")
        fields = verification_record(request, conversation, duties, self._clock.now())
        if needs_human:
            fields["needs_human"] = True
        record = await self._chain.append(session, "verification", request.ticket, fields)
        request.record_seq = record["record_id"]
        request.status = RequestStatus.FORWARDED
        if self._staff.mailbox:
            message = self._staff_message(record, verification, original)
            self._outbox.add_mail(
                session,
                message,
                [self._staff.mailbox],
                envelope_sender=self._outbound.sender,
                ticket=request.ticket,
            )
        if self._staff.webhook_url:
            self._outbox.add_webhook(
                session, self._staff.webhook_url, record_json(record), request.ticket
            )
        self._metrics.forwarded.labels(request.channel, verification.value).inc()
        return record

    def _staff_message(
        self, record: Mapping[str, Any], verification: Verification, original: bytes | None
    ) -> EmailMessage:
        header = VERIFICATION_HEADER[verification]
        message = plain_message(
            sender=self._outbound.sender,
            to=self._staff.mailbox,
            subject=_staff_subject(record, header),
            body=_staff_summary(record),
            now=self._clock.now(),
            headers={"X-Gateway-Ticket": record["ticket"], "X-Gateway-Verification": header},
        )
        message.add_attachment(
            record_json(record),
            maintype="application",
            subtype="json",
            filename="verification.json",
        )
        if original is not None:
            # message/rfc822 must carry the message itself, not base64 of it.
            message.add_attachment(masked_original(original))
        return message


def _staff_subject(record: Mapping[str, Any], header: str) -> str:
    flag = ", needs a human" if record.get("needs_human") else ""
    return f"[{record['ticket']}] {record['intent']} ({header}, {record['channel']}{flag})"


def record_json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, indent=2).encode()


def _staff_summary(record: Mapping[str, Any]) -> str:
    lines = [
        f"Ticket: {record['ticket']}",
        f"Request: {record['intent']} via {record['channel']}",
        f"Verification: {record['verification']} (required: {record['stage_required']})",
        f"Login: {record['login'] or '-'}",
        f"Service: {record['service'] or '-'} (identified by {record['identified_by'] or '-'})",
        f"Method: {record['method'] or '-'}, failed attempts before: {record['failed_attempts']}",
        f"Client: {record['client'] or '-'}",
    ]
    if record.get("hold_until"):
        lines.append(f"Cooling-off: do not act before {record['hold_until']}")
    lines += ["", "Request text (codes and identifiers masked):", "", record["request_text"]]
    lines += ["", f"Record {record['record_id']}, hash {record['hash']}"]
    return "\n".join(lines) + "\n"
