"""Single-use codes the Client Panel shows: random, short-lived, stored only as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

PANEL_CODE_DIGITS = 8
PANEL_CODE_LIFETIME = timedelta(minutes=15)


def new_panel_code() -> str:
    return f"{secrets.randbelow(10**PANEL_CODE_DIGITS):0{PANEL_CODE_DIGITS}d}"


def panel_code_hash(key: bytes, account_id: int, code: str) -> str:
    """Keyed, and bound to the account: a database dump alone cannot brute-force 10^8 codes."""
    message = f"panel-code:{account_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
