"""The one place a login and a code become a yes or a no.

Mechanisms after privacyIDEA: the account row is locked while it is checked, the last accepted
TOTP step is stored so an older or equal step is a replay, single-use codes are spent atomically,
and failures are counted (and saved) before anyone is answered. A locked account refuses even a
right code. Every refusal looks the same to the client; the reason is only for metrics.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.codes.panel import PANEL_CODE_DIGITS, panel_code_hash
from gateway.codes.totp import DECOY_SECRET, TOTP_DIGITS, TotpWindow, matching_step
from gateway.storage.models import Account, PanelCode

MAX_FAILURES = 5
LOCKOUT_PERIOD = timedelta(minutes=15)


class Method(StrEnum):
    TOTP = "totp"
    PANEL_CODE = "panel_code"


class Failure(StrEnum):
    UNKNOWN_LOGIN = "unknown_login"
    MALFORMED = "malformed"
    WRONG_CODE = "wrong_code"
    REPLAYED = "replayed"
    LOCKED = "locked"
    NOT_HOLDER = "not_holder"
    OTHER_TICKET = "other_ticket"


@dataclass(frozen=True, slots=True)
class CodeCheck:
    account_id: int | None
    method: Method | None
    failure: Failure | None
    locked_now: bool = False

    @property
    def accepted(self) -> bool:
        return self.failure is None


class LockoutNotifier(Protocol):
    async def account_locked(self, session: AsyncSession, account: Account) -> None: ...


@dataclass(frozen=True, slots=True)
class _Match:
    method: Method | None
    step: int | None = None
    panel_code: PanelCode | None = None
    failure: Failure | None = None


class CodeVerifier:
    def __init__(
        self, secret_keys: tuple[bytes, ...], clock: Clock, notifier: LockoutNotifier
    ) -> None:
        """`secret_keys`: current first, then retired ones, so a panel code issued just before
        a key rotation still works for the rest of its 15 minutes."""
        self._secret_keys = secret_keys
        self._clock = clock
        self._notifier = notifier

    async def check(
        self,
        session: AsyncSession,
        login: str,
        code: str,
        *,
        window: TotpWindow,
        ticket: str | None,
        holders: frozenset[int] | None,
    ) -> CodeCheck:
        """Check within the caller's transaction; `holders` limits which accounts may answer
        (those holding the service named in stage 1), None meaning any account."""
        now = self._clock.now()
        account = await session.scalar(
            select(Account).where(Account.login == login).with_for_update()
        )
        if account is None:
            matching_step(DECOY_SECRET, code, now, window)
            return CodeCheck(None, None, Failure.UNKNOWN_LOGIN)
        if _is_locked(account, now):
            matching_step(account.totp_secret, code, now, window)
            return CodeCheck(account.id, None, Failure.LOCKED)
        match = await self._match(session, account, code, now, window, ticket)
        failure = match.failure
        if failure is None and holders is not None and account.id not in holders:
            failure = Failure.NOT_HOLDER
        if failure is None and await self._spend(session, account, match, now):
            return CodeCheck(account.id, match.method, None)
        locked_now = await self._count_failure(session, account, now)
        return CodeCheck(account.id, match.method, failure or Failure.REPLAYED, locked_now)

    async def _match(
        self,
        session: AsyncSession,
        account: Account,
        code: str,
        now: datetime,
        window: TotpWindow,
        ticket: str | None,
    ) -> _Match:
        if len(code) == TOTP_DIGITS and code.isdigit():
            step = matching_step(account.totp_secret, code, now, window)
            if step is None:
                return _Match(Method.TOTP, failure=Failure.WRONG_CODE)
            if account.last_totp_step is not None and step <= account.last_totp_step:
                return _Match(Method.TOTP, failure=Failure.REPLAYED)
            return _Match(Method.TOTP, step=step)
        if len(code) == PANEL_CODE_DIGITS and code.isdigit():
            found = await self._find_panel_code(session, account, code, now)
            if found is None:
                return _Match(Method.PANEL_CODE, failure=Failure.WRONG_CODE)
            if found.ticket is not None and found.ticket != ticket:
                return _Match(Method.PANEL_CODE, failure=Failure.OTHER_TICKET)
            return _Match(Method.PANEL_CODE, panel_code=found)
        return _Match(None, failure=Failure.MALFORMED)

    async def _find_panel_code(
        self, session: AsyncSession, account: Account, code: str, now: datetime
    ) -> PanelCode | None:
        wanted = [panel_code_hash(key, account.id, code).encode() for key in self._secret_keys]
        active = await session.scalars(
            select(PanelCode).where(
                PanelCode.account_id == account.id,
                PanelCode.used_at.is_(None),
                PanelCode.expires_at > now,
            )
        )
        found = None
        for candidate in active:
            for hashed in wanted:
                if hmac.compare_digest(candidate.code_hash.encode(), hashed):
                    found = candidate
        return found

    async def _spend(
        self, session: AsyncSession, account: Account, match: _Match, now: datetime
    ) -> bool:
        """Mark the code used; the WHERE clauses make a concurrent second use find nothing."""
        if match.step is not None:
            spent = await session.execute(
                update(Account)
                .where(Account.id == account.id)
                .where((Account.last_totp_step.is_(None)) | (Account.last_totp_step < match.step))
                .values(last_totp_step=match.step, failed_attempts=0, locked_until=None)
                .execution_options(synchronize_session=False)
            )
        elif match.panel_code is not None:
            spent = await session.execute(
                update(PanelCode)
                .where(PanelCode.id == match.panel_code.id, PanelCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount == 1:  # type: ignore[attr-defined]
                await session.execute(
                    update(Account)
                    .where(Account.id == account.id)
                    .values(failed_attempts=0, locked_until=None)
                    .execution_options(synchronize_session=False)
                )
        else:
            return False
        return bool(spent.rowcount == 1)  # type: ignore[attr-defined]

    async def count_failure(self, session: AsyncSession, account: Account) -> bool:
        """A failure of another kind of proof (a wrong approval number) counts the same."""
        return await self._count_failure(session, account, self._clock.now())

    async def reset_failures(self, session: AsyncSession, account: Account) -> None:
        """Another kind of proof succeeded (an approval): as after an accepted code."""
        await session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(failed_attempts=0, locked_until=None)
            .execution_options(synchronize_session=False)
        )

    async def _count_failure(self, session: AsyncSession, account: Account, now: datetime) -> bool:
        """Add one failure; the fifth locks the account and tells its owner. True if it locked."""
        expired_lock = account.locked_until is not None and account.locked_until <= now
        failures = 1 if expired_lock else account.failed_attempts + 1
        locked_until = now + LOCKOUT_PERIOD if failures >= MAX_FAILURES else None
        await session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(failed_attempts=failures, locked_until=locked_until)
            .execution_options(synchronize_session=False)
        )
        if locked_until is None:
            return False
        await self._notifier.account_locked(session, account)
        return True


def _is_locked(account: Account, now: datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now
