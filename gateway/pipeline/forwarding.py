"""Handing a request to staff: its verification record joins the hash chain, and the same
record goes to every configured path (console queue, staff mailbox, webhook) through the outbox.

Only called for requests whose requirement is met; an unverified change request never gets here,
so it can never reach the mailbox or the webhook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from email.message import EmailMessage, Message
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from gateway.audit.chain import AuditChain
from gateway.audit.records import DENIAL, VERIFICATION, denial_record, verification_record
from gateway.clock import Clock
from gateway.config import OutboundSettings, StaffSettings
from gateway.outbox.messages import plain_message
from gateway.outbox.queue import Outbox
from gateway.pipeline.model import RequestStatus, Verification
from gateway.storage.models import ChangeRequest, Conversation
from policies import Duties

log = logging.getLogger(__name__)
UNCOPIED = (
    "The client's original mail could not be made safe for staff (masked), so it is not "
    "attached; it is kept for the audit export (`gateway audit export TICKET`).\n"
)
VERIFICATION_HEADER = {
    Verification.VERIFIED: "verified",
    Verification.IDENTIFIED: "identified",
    Verification.NOT_REQUIRED: "not-required",
}
# A notice, not a request to act on: the holder said they did not ask for it.
NOTICE_HEADER = {Verification.DENIED_BY_CLIENT: "denied-by-client"}


class StaffCopy(Protocol):
    """Makes the copy of a client's e-mail staff may read (the mail channel's `masked_original`):
    only the channel knows which parts it read."""

    def __call__(self, raw: bytes) -> Message: ...


class Forwarder:
    def __init__(
        self,
        staff: StaffSettings,
        outbound: OutboundSettings,
        chain: AuditChain,
        outbox: Outbox,
        clock: Clock,
        staff_copy: StaffCopy,
    ) -> None:
        self._staff_copy = staff_copy
        self._staff = staff
        self._outbound = outbound
        self._chain = chain
        self._outbox = outbox
        self._clock = clock

    async def forward(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        conversation: Conversation,
        duties: Duties,
        lines: list[tuple[int, str]],
        original: bytes | None = None,
        needs_human: bool = False,
        approval: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Called once the transition table has moved the request to `forwarded`. `approval`:
        the challenge the holder approved and the digest of the words they were shown."""
        verification = Verification(request.verification)
        if verification not in VERIFICATION_HEADER or request.status != RequestStatus.FORWARDED:
            raise ValueError(f"refusing to forward a request that is {verification}")
        fields = verification_record(request, conversation, duties, lines, self._clock.now())
        if needs_human:
            fields["needs_human"] = True
        if approval:
            fields.update(approval)
        record = await self._chain.append(session, VERIFICATION, request.ticket, fields)
        # One statement, the same for a request and for its rehearsal's stand-in.
        await session.execute(
            update(ChangeRequest)
            .where(ChangeRequest.id == request.id)
            .values(record_seq=record["record_id"])
            .execution_options(synchronize_session=False)
        )
        set_committed_value(request, "record_seq", record["record_id"])
        self._deliver(session, record, verification, original)
        return record

    async def tell_denial(
        self, session: AsyncSession, request: ChangeRequest, conversation: Conversation, via: str
    ) -> dict[str, Any]:
        """The holder said "not me": the chain records it and every path staff read is told,
        so nobody acts on it and whoever asked can be looked at. Nothing in it is actionable."""
        if request.verification != Verification.DENIED_BY_CLIENT:
            raise ValueError("a denial notice for a request nobody denied")
        fields = denial_record(request, conversation, via, self._clock.now())
        record = await self._chain.append(session, DENIAL, request.ticket, fields)
        self._deliver(session, record, Verification.DENIED_BY_CLIENT, None)
        return record

    def _deliver(
        self,
        session: AsyncSession,
        record: dict[str, Any],
        verification: Verification,
        original: bytes | None,
    ) -> None:
        ticket = record["ticket"]
        if self._staff.mailbox:
            message = self._staff_message(record, verification, original)
            self._outbox.add_mail(
                session,
                message,
                [self._staff.mailbox],
                envelope_sender=self._outbound.sender,
                ticket=ticket,
            )
        if self._staff.webhook_url:
            head = self._chain.head(record).token
            self._outbox.add_webhook(
                session,
                self._staff.webhook_url,
                record_json({**record, "chain_head": head}),
                ticket,
            )

    @staticmethod
    def stand_in(request: ChangeRequest) -> ChangeRequest:
        """A copy outside the session to forward in a savepoint that is then rolled back: the
        answer to a question about a service no account holds does all the work of one about a
        held service, so its timing does not tell which services exist."""
        return ChangeRequest(
            id=request.id,
            ticket=request.ticket,
            channel=request.channel,
            intent=request.intent,
            intents=request.intents,
            services=request.services,
            destinations=request.destinations,
            stage_required=request.stage_required,
            status=RequestStatus.FORWARDED,
            verification=Verification.IDENTIFIED,
            request_text=request.request_text,
            sender_authentication=request.sender_authentication,
            identified_by=request.identified_by,
            service=request.service,
            inbound_mail_id=request.inbound_mail_id,
            duties=request.duties,
            conversation_id=request.conversation_id,
            created_at=request.created_at,
        )

    def _staff_message(
        self, record: Mapping[str, Any], verification: Verification, original: bytes | None
    ) -> EmailMessage:
        header = {**VERIFICATION_HEADER, **NOTICE_HEADER}[verification]
        message = plain_message(
            sender=self._outbound.sender,
            to=self._staff.mailbox,
            subject=_staff_subject(record, header),
            body=_staff_summary(record),
            now=self._clock.now(),
            headers={
                "X-Gateway-Ticket": record["ticket"],
                "X-Gateway-Verification": header,
                "X-Gateway-Chain-Head": self._chain.head(record).token,
            },
        )
        message.add_attachment(
            record_json(record),
            maintype="application",
            subtype="json",
            filename="verification.json",
        )
        if original is not None:
            # message/rfc822 must carry the message itself, not base64 of it.
            try:
                copy = self._staff_copy(original)
            except Exception as exc:  # the record must still reach staff: without the copy
                log.error("staff copy of %s not made: %s", record["ticket"], type(exc).__name__)
                message.add_attachment(UNCOPIED, filename="original-withheld.txt")
            else:
                message.add_attachment(copy)
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
