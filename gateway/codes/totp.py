"""TOTP (RFC 6238) checked step by step, so the accepted step can be stored and replays refused."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

import pyotp

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
# Computed for unknown logins too, so their answer costs what a real check costs.
DECOY_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - public, verifies nothing


class PanelTotp(pyotp.TOTP):
    """pyotp refuses secrets under 112 bits; Client Panels in the field issue 80-bit ones
    (RFC 4226's minimum is 128, many panels use 80), so imported secrets down to 80 bits are
    accepted, while every secret the gateway generates has 160."""

    min_secret_length_bits = 80


def totp_for(secret: str) -> pyotp.TOTP:
    return PanelTotp(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)


@dataclass(frozen=True, slots=True)
class TotpWindow:
    """How many steps before and after now a code may come from: a channel's patience."""

    past_steps: int
    future_steps: int


# Chat: one step either side (clock skew while typing).
CHAT_WINDOW = TotpWindow(past_steps=1, future_steps=1)
# E-mail: a code up to 10 minutes old, since mail sits in queues; one step ahead for skew.
EMAIL_WINDOW = TotpWindow(past_steps=10 * 60 // TOTP_STEP_SECONDS, future_steps=1)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // TOTP_STEP_SECONDS


def matching_step(secret: str, code: str, moment: datetime, window: TotpWindow) -> int | None:
    """The newest step in the window whose code equals `code`, comparing every step in constant
    time so the answer's timing says nothing about where (or whether) it matched."""
    totp = totp_for(secret)
    now = step_at(moment)
    found: int | None = None
    candidate = code.encode()
    for step in range(now - window.past_steps, now + window.future_steps + 1):
        expected = totp.generate_otp(step).encode()
        if hmac.compare_digest(expected, candidate):
            found = step
    return found


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, name: str, issuer: str) -> str:
    return totp_for(secret).provisioning_uri(name=name, issuer_name=issuer)


def is_valid_secret(secret: str) -> bool:
    try:
        totp_for(secret)
    except (ValueError, TypeError):
        return False
    return True
