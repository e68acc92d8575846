"""Signed webhook deliveries (contract section 10): the receiver checks the HMAC over
`<t>.<body>`, rejects a stale `t` and a repeated delivery id."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import aiohttp

WEBHOOK_TIMEOUT_SECONDS = 10.0


class WebhookRefused(Exception):
    """The receiver answered other than 2xx; the delivery will be retried."""


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},sha256={digest}"


class WebhookSender:
    def __init__(
        self,
        client: aiohttp.ClientSession,
        secret: str,
        secrets_by_url: Mapping[str, str] | None = None,
    ) -> None:
        """`secret` signs for the staff webhook; `secrets_by_url`, for any other receiver
        (the Client Panel's), each its own: neither receiver can forge the other's."""
        self._client = client
        self._secret = secret
        self._secrets = dict(secrets_by_url or {})

    async def send(self, url: str, body: bytes, delivery_id: str, timestamp: int) -> None:
        secret = self._secrets.get(url, self._secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "support-gateway",
            "X-Gateway-Delivery": delivery_id,
            "X-Gateway-Signature": signature_header(secret, timestamp, body),
        }
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
        async with self._client.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if not 200 <= response.status < 300:
                raise WebhookRefused(f"HTTP {response.status}")
