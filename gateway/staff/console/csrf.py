"""CSRF tokens: only a page we rendered carries the token a form post must return.

A logged-in form's token is an HMAC of the session's hash, so it lives and dies with the
session and needs no storage. The login form has no session yet: it uses a signed double
submit, a random nonce in a SameSite=Strict cookie and its HMAC in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gateway.keys import Keys

_SESSION_LABEL = b"staff-console-csrf:"
_LOGIN_LABEL = b"staff-console-login-csrf:"


def _mac(secret: bytes, label: bytes, value: str) -> str:
    return hmac.new(secret, label + value.encode(), hashlib.sha256).hexdigest()


def _matches(keys: Keys, label: bytes, value: str | None, given: str | None) -> bool:
    if not value or not given:
        return False
    candidate = given.encode()
    # Every key, current and retired, and no early exit: a key rotation keeps open forms valid.
    results = [
        hmac.compare_digest(_mac(secret, label, value).encode(), candidate)
        for secret in keys.all_secrets
    ]
    return any(results)


def session_token(keys: Keys, session_hash: str) -> str:
    return _mac(keys.secret, _SESSION_LABEL, session_hash)


def session_token_valid(keys: Keys, session_hash: str, given: str | None) -> bool:
    return _matches(keys, _SESSION_LABEL, session_hash, given)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(32)


def login_token(keys: Keys, nonce: str) -> str:
    return _mac(keys.secret, _LOGIN_LABEL, nonce)


def login_token_valid(keys: Keys, nonce: str | None, given: str | None) -> bool:
    return _matches(keys, _LOGIN_LABEL, nonce, given)
