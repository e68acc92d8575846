"""Issuing panel codes, for the Client Panel's API and for `gateway code`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.codes.panel import PANEL_CODE_LIFETIME, new_panel_code, panel_code_hash
from gateway.storage.models import Account, ChangeRequest, PanelCode


class UnknownLogin(LookupError):
    pass


class UnknownTicket(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IssuedCode(code='********', expires_at={self.expires_at.isoformat()})"


async def issue_panel_code(
    session: AsyncSession, secret_key: bytes, clock: Clock, login: str, ticket: str | None
) -> IssuedCode:
    """A fresh code; with a ticket it verifies that one request and nothing else."""
    account_id = await session.scalar(select(Account.id).where(Account.login == login))
    if account_id is None:
        raise UnknownLogin(login)
    if ticket is not None:
        known = await session.scalar(select(ChangeRequest.id).where(ChangeRequest.ticket == ticket))
        if known is None:
            raise UnknownTicket(ticket)
    now = clock.now()
    await session.execute(
        delete(PanelCode).where(PanelCode.account_id == account_id, PanelCode.expires_at <= now)
    )
    code = new_panel_code()
    expires_at = now + PANEL_CODE_LIFETIME
    session.add(
        PanelCode(
            account_id=account_id,
            code_hash=panel_code_hash(secret_key, account_id, code),
            ticket=ticket,
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedCode(code, expires_at)
