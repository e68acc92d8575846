"""The held request's seal: what the client is asked to confirm cannot be widened unseen.

Until a request is verified, nothing of it is in the chain; its row is all there is, and
whoever can write the database could add a destination or a service to it before the client
gives the code, which would then verify what the client was never shown. So every time the
gateway itself sets what a request is about, it seals those fields (HMAC with the secret key),
and a code is checked only for a request whose seal holds. Once verified, the chain takes over
(`gateway.audit.agreement`).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from gateway.keys import Keys, key_id
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


def _mac(secret: bytes, request: ChangeRequest) -> str:
    fields = {name: getattr(request, name) for name in SEALED_FIELDS}
    fields["created_at"] = iso(request.created_at)
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret, f"request-seal:{text}".encode(), hashlib.sha256).hexdigest()


def seal(keys: Keys, request: ChangeRequest) -> None:
    request.seal = f"{key_id(keys.secret)}:{_mac(keys.secret, request)}"


def sealed(keys: Keys, request: ChangeRequest) -> bool:
    found, _, mac = (request.seal or "").partition(":")
    for secret in keys.all_secrets:
        if key_id(secret) == found:
            return hmac.compare_digest(_mac(secret, request), mac)
    return False
