"""The two kinds of record the chain holds, each defined once: the verification record staff
receive with every forwarded request (contract section 10), and the action record of what a
staff member changed, at whose request.

Both name the request's whole scope (every intent, service and destination, and the transcript
lines it is made of), so a record can only ever be read as covering what it says.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from gateway.audit.chain import sha256_hex
from gateway.redaction import redact
from gateway.storage.models import ChangeRequest, Conversation
from gateway.timefmt import iso
from policies import Duties

VERIFICATION = "verification"
ACTION = "action"
EXPIRY = "expiry"
DENIAL = "denial"


def _scope(request: ChangeRequest) -> dict[str, Any]:
    return {
        "intent": request.intent,
        "intents": json.loads(request.intents or "[]") or [request.intent],
        "service": redact(request.service) if request.service else None,
        "services": [redact(name) for name in json.loads(request.services or "[]")],
        "destinations": json.loads(request.destinations or "[]"),
    }


def _verification_fields(request: ChangeRequest, conversation: Conversation) -> dict[str, Any]:
    """Contract section 10's fields, as a verification record and a denial both carry them."""
    return {
        "channel": request.channel,
        **_scope(request),
        "stage_required": request.stage_required,
        "verification": request.verification,
        "login": request.login,
        "identified_by": request.identified_by,
        "method": request.method,
        "verified_at": iso(request.verified_at),
        "failed_attempts": conversation.failed_attempts,
        "client": redact(conversation.client) if conversation.client else None,
        "sender_authentication": request.sender_authentication,
        "request_text": request.request_text,
    }


def verification_record(
    request: ChangeRequest,
    conversation: Conversation,
    duties: Duties,
    lines: list[tuple[int, str]],
    now: datetime,
) -> dict[str, Any]:
    """Contract section 10's fields, the request's scope, and the duties staff must honour."""
    hold_until = now + timedelta(seconds=duties.cooling_off_seconds)
    return {
        **_verification_fields(request, conversation),
        # The transcript lines it is made of, and their digests: the console marks as covered
        # only these, and only while their text is what was verified.
        "lines": [line_id for line_id, _ in lines],
        "line_sha256": [sha256_hex(text) for _, text in lines],
        "held_since": iso(request.created_at),
        "requested_by_staff": request.requested_by_staff,
        "conversation": conversation.id,
        "recorded_at": iso(now),
        "notify_contact": duties.notify_contact,
        "hold_until": iso(hold_until) if duties.cooling_off_seconds else None,
        # All of them, as the row keeps them: the gate reads the row, and the row is held
        # against this (gateway.audit.agreement).
        "duties": json.loads(request.duties or "{}"),
    }


def action_record(request: ChangeRequest, staff: str, text: str, now: datetime) -> dict[str, Any]:
    """What was changed, at whose request: tied to the verification record it acted on."""
    return {
        "kind": ACTION,
        "staff": staff,
        "action_text": text,
        "request_record_id": request.record_seq,
        "verification": request.verification,
        "login": request.login,
        **_scope(request),
        "recorded_at": iso(now),
    }


def expiry_record(request: ChangeRequest, held_hours: int, now: datetime) -> dict[str, Any]:
    """A request held for the client's code longer than the policy allows was withdrawn: the
    chain says so, so a later claim that it was verified has this to answer."""
    return {
        "kind": EXPIRY,
        "channel": request.channel,
        **_scope(request),
        "held_since": iso(request.created_at),
        "hold_hours": held_hours,
        "request_text": request.request_text,
        "recorded_at": iso(now),
    }


def denial_record(
    request: ChangeRequest, conversation: Conversation, via: str, now: datetime
) -> dict[str, Any]:
    """The account holder said they did not ask for the request ("panel": in the Client Panel,
    "contact_link": from the notice to the registered contact). Staff are told with this; the
    request is cancelled and its conversation locked, so nothing can be acted on."""
    return {
        "kind": DENIAL,
        **_verification_fields(request, conversation),
        "denied_via": via,
        "held_since": iso(request.created_at),
        "requested_by_staff": request.requested_by_staff,
        "conversation": conversation.id,
        "recorded_at": iso(now),
    }
