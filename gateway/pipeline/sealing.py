"""The held request's seal: what the client is asked to confirm cannot be widened unseen.

Until a request is verified, nothing of it is in the chain; its row is all there is, and
whoever can write the database could add a destination or a service to it before the client
gives the code, which would then verify what the client was never shown. So every time the
gateway itself sets what a request is about, it seals those fields (HMAC with the secret key),
and a code is checked only for a request whose seal holds. Once verified, the chain takes over
(`gateway.audit.agreement`).
"""

from __future__ import annotations

import json

from gateway.keys import Keys
from gateway.storage.models import ChangeRequest
from gateway.timefmt import iso

SEALED_FIELDS = (
    "ticket",
    "conversation_id",
    "channel",
    "intent",
    "intents",
    "services",
    "destinations",
    "stage_required",
    "duties",
    "request_text",
    "identified_by",
    "service",
    "identifier_hash",
    "requested_by_staff",
    "inbound_mail_id",
)


def _sealed_text(request: ChangeRequest) -> str:
    fields = {name: getattr(request, name) for name in SEALED_FIELDS}
    fields["created_at"] = iso(request.created_at)
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"request-seal:{text}"


def seal(keys: Keys, request: ChangeRequest) -> None:
    request.seal = keys.seal(_sealed_text(request))


def sealed(keys: Keys, request: ChangeRequest) -> bool:
    return keys.sealed(request.seal, _sealed_text(request))
