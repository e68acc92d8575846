"""Creating staff users: password plus a TOTP second factor of their own."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.codes.totp import new_secret, provisioning_uri
from gateway.staff.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from gateway.storage.models import StaffUser

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ISSUER = "Support Gateway staff"


class StaffUserError(ValueError):
    pass


async def add_staff_user(session: AsyncSession, clock: Clock, username: str, password: str) -> str:
    """Returns the otpauth:// URI of the user's second factor."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise StaffUserError(
            f"username {username!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'"
        )
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise StaffUserError(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    if await session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise StaffUserError(f"staff user {username!r} already exists")
    secret = new_secret()
    session.add(
        StaffUser(
            username=username,
            password_hash=hash_password(password),
            totp_secret=secret,
            failed_attempts=0,
            created_at=clock.now(),
        )
    )
    await session.flush()
    return provisioning_uri(secret, username, ISSUER)
