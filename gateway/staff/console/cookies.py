"""The console's cookies, all HttpOnly, SameSite=Strict and confined to /staff: the session
token, the login form's CSRF nonce, and a one-shot signed flash message for post/redirect/get."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

from gateway.keys import Keys

SESSION_COOKIE = "gw_staff"
LOGIN_COOKIE = "gw_staff_login"
FLASH_COOKIE = "gw_staff_flash"
COOKIE_PATH = "/staff"
FLASH_SECONDS = 60
MAX_FLASH_LENGTH = 500
_FLASH_LABEL = b"staff-console-flash:"


@dataclass(frozen=True, slots=True)
class Flash:
    kind: str  # "error" or "notice"
    text: str


def set_cookie(
    response: web.StreamResponse, name: str, value: str, *, secure: bool, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=max_age,
    )


def drop_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=COOKIE_PATH, httponly=True, samesite="Strict")


def set_flash(response: web.StreamResponse, keys: Keys, flash: Flash, *, secure: bool) -> None:
    """Signed, so nobody can plant words in the console through a cookie of their own."""
    payload = f"{flash.kind}:{flash.text[:MAX_FLASH_LENGTH]}".encode()
    encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    value = f"{encoded}.{_mac(keys.secret, encoded)}"
    set_cookie(response, FLASH_COOKIE, value, secure=secure, max_age=FLASH_SECONDS)


def read_flash(request: web.Request, keys: Keys) -> Flash | None:
    encoded, _, mac = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not encoded or not hmac.compare_digest(_mac(keys.secret, encoded).encode(), mac.encode()):
        return None
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    kind, _, text = payload.partition(":")
    return Flash("error" if kind == "error" else "notice", text)


def _mac(secret: bytes, value: str) -> str:
    return hmac.new(secret, _FLASH_LABEL + value.encode(), hashlib.sha256).hexdigest()
