"""Resume tokens derived from the conversation id with the secret key.

Any node can state a conversation's token (so a status change made on one node reaches the
client on another with the token it must keep), and nothing per conversation must be shared but
the stored hash. Tokens stated under a retired key still open their conversation while that key
is in `security.previous_keys`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from gateway.keys import Keys
from gateway.storage.models import Conversation

DOMAIN = b"gateway-resume-token:"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResumeTokens:
    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    def issue(self, conversation_id: str) -> str:
        return _derive(self._keys.secret, conversation_id)

    def matches(self, conversation: Conversation, token: str) -> bool:
        """The token stored at opening, or the one any of our keys states for it now."""
        found = hmac.compare_digest(conversation.resume_token_hash, token_hash(token))
        for key in self._keys.all_secrets:
            found |= hmac.compare_digest(_derive(key, conversation.id), token)
        return found


def _derive(key: bytes, conversation_id: str) -> str:
    digest = hmac.new(key, DOMAIN + conversation_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
