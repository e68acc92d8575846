"""Console sessions kept on the server, so logging out or timing out ends them for real.

The cookie holds a random 256-bit token; the table holds only its SHA-256, so a copy of the
database yields no live session. A session dies 30 minutes after its last use and 12 hours after
login, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.clock import Clock
from gateway.storage.models import StaffSession, StaffUser

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Writing last_seen_at on every click would make each page view a write; a minute is precise
# enough for a 30-minute idle limit.
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 128


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """Who is behind a request; `token_hash` also keys the CSRF token."""

    user_id: int
    username: str
    token_hash: str


class ConsoleSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def open(self, user_id: int) -> str:
        """A brand-new token: nothing the browser held before login is ever promoted."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await session.execute(
                delete(StaffSession).where(
                    StaffSession.staff_user_id == user_id, self._expired_clause()
                )
            )
            session.add(
                StaffSession(
                    token_hash=token_hash(token),
                    staff_user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return token

    async def find(self, token: str | None, *, touch: bool = True) -> StaffIdentity | None:
        """The live session behind a cookie; an expired one is deleted on sight."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        hashed = token_hash(token)
        now = self._clock.now()
        async with self._sessions.begin() as session:
            found = (
                await session.execute(
                    select(StaffSession, StaffUser.username)
                    .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
                    .where(StaffSession.token_hash == hashed)
                )
            ).first()
            if found is None:
                return None
            row, username = found
            if self._is_expired(row):
                await session.delete(row)
                return None
            if touch and now - row.last_seen_at >= TOUCH_INTERVAL:
                row.last_seen_at = now
            return StaffIdentity(row.staff_user_id, username, hashed)

    async def live(self, hashes: Iterable[str]) -> set[str]:
        """Which of these sessions are still live, in one query, without touching them."""
        wanted = list(hashes)
        if not wanted:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(StaffSession).where(StaffSession.token_hash.in_(wanted))
            )
            return {row.token_hash for row in rows if not self._is_expired(row)}

    async def end(self, token: str | None) -> None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                delete(StaffSession).where(StaffSession.token_hash == token_hash(token))
            )

    def _is_expired(self, row: StaffSession) -> bool:
        now = self._clock.now()
        return now - row.last_seen_at >= IDLE_TIMEOUT or now - row.created_at >= ABSOLUTE_TIMEOUT

    def _expired_clause(self) -> ColumnElement[bool]:
        now = self._clock.now()
        return or_(
            StaffSession.last_seen_at <= now - IDLE_TIMEOUT,
            StaffSession.created_at <= now - ABSOLUTE_TIMEOUT,
        )
