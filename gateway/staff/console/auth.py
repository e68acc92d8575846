"""Staff login: password and TOTP, one answer for every failure, a lock after repeated ones.

Whoever tries to log in learns one bit: in or not. An unknown user, a wrong password, a wrong
or replayed code and a locked account all cost the same scrypt and TOTP work and get the same
refusal, so neither the text nor the timing says which it was.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.clock import Clock
from gateway.codes.totp import DECOY_SECRET, TotpWindow, matching_step
from gateway.staff.passwords import MAX_PASSWORD_LENGTH, check_password
from gateway.storage.models import StaffUser

LOGIN_FAILED = "Login failed: check the username, password and code."
MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
# One step either side: clock skew on a phone, and the seconds spent typing.
STAFF_WINDOW = TotpWindow(past_steps=1, future_steps=1)
MAX_USERNAME_LENGTH = 64
MAX_CODE_LENGTH = 16
# The hash of a random password nobody knows, checked for unknown users: same scrypt cost.
DECOY_HASH = (
    "scrypt$32768$8$1$Dx95Ad/ML7RcUgwHrQ/0ag$eJEPfitvX03ZeKbWzLX3Azkr/CL4lYHPJfEP3cdQUSF7MeHNexu"
    "CEoFGwsLUf/r3k2OrGglSeUS+GQEimDQeRg"
)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    username: str
    password: str
    code: str


class StaffLogin:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def check(self, attempt: LoginAttempt) -> int | None:
        """The staff user's id when every factor holds and the account is not locked."""
        username = attempt.username.strip().lower()[:MAX_USERNAME_LENGTH]
        code = "".join(attempt.code.split())[:MAX_CODE_LENGTH]
        async with self._sessions() as session:
            user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
            stored_hash = user.password_hash if user else DECOY_HASH
            secret = user.totp_secret if user else DECOY_SECRET
        # scrypt takes ~50 ms of CPU: off the loop, so chat and mail keep flowing meanwhile.
        password_ok = await asyncio.to_thread(
            check_password, attempt.password[:MAX_PASSWORD_LENGTH], stored_hash
        )
        step = matching_step(secret, code, self._clock.now(), STAFF_WINDOW)
        if user is None:
            return None
        return await self._settle(user.id, password_ok, step)

    async def _settle(self, user_id: int, password_ok: bool, step: int | None) -> int | None:
        """Decide under the row lock, so two logins racing with one code cannot both win."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            user = await session.get(StaffUser, user_id, with_for_update=True)
            if user is None:
                return None
            if user.locked_until is not None and user.locked_until > now:
                return None  # a right code during the lock is refused too
            fresh = step is not None and (user.last_totp_step is None or step > user.last_totp_step)
            if password_ok and fresh:
                user.last_totp_step = step
                user.failed_attempts, user.locked_until = 0, None
                return user.id
            user.failed_attempts = (user.failed_attempts or 0) + 1
            if user.failed_attempts >= MAX_FAILURES:
                user.failed_attempts, user.locked_until = 0, now + LOCK_DURATION
            return None
