"""Mail to an account's registered contact: lockouts and verified changes must reach the real
holder, whoever was typing in the chat."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.codes.verifier import LOCKOUT_PERIOD
from gateway.outbox.messages import plain_message
from gateway.outbox.queue import Outbox
from gateway.pipeline.replies import LANGUAGES, pick_language
from gateway.pipeline.scope import scope_of
from gateway.storage.models import Account, ChangeRequest


class AccountNotices:
    def __init__(self, sender: str, outbox: Outbox, clock: Clock) -> None:
        self._sender = sender
        self._outbox = outbox
        self._clock = clock
        # Plain-text mail: HTML escaping would garble it; the email package guards the headers.
        environment = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=False,  # noqa: S701 - text/plain mail, never rendered as HTML
            undefined=StrictUndefined,
        )
        self._modules = {
            language: environment.get_template(f"notices/{language}.j2").module
            for language in LANGUAGES
        }

    async def account_locked(self, session: AsyncSession, account: Account) -> None:
        minutes = int(LOCKOUT_PERIOD.total_seconds() // 60)
        self._send(session, account, "locked", None, {"login": account.login, "minutes": minutes})

    def request_verified(
        self, session: AsyncSession, account: Account, request: ChangeRequest
    ) -> None:
        params = {
            "ticket": request.ticket,
            "intent": scope_of(request).intents,
            "service": request.service,
            "channel": "chat" if request.channel == "chat" else "e-mail",
        }
        self._send(session, account, "verified", request.ticket, params)

    def _send(
        self,
        session: AsyncSession,
        account: Account,
        kind: str,
        ticket: str | None,
        params: dict[str, Any],
    ) -> None:
        module = self._modules[pick_language(account.language)]
        subject_params = {"ticket": ticket} if ticket else {}
        message = plain_message(
            sender=self._sender,
            to=account.email,
            subject=str(getattr(module, f"{kind}_subject")(**subject_params)),
            body=str(getattr(module, f"{kind}_body")(**params)),
            now=self._clock.now(),
            headers={"Auto-Submitted": "auto-generated"},
        )
        self._outbox.add_mail(session, message, [account.email], ticket=ticket)
