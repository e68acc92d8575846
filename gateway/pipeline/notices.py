"""Mail to an account's registered contact: lockouts and verified changes must reach the real
holder, whoever was typing in the chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.approvals.contact_link import ContactLinks
from gateway.clock import Clock
from gateway.codes.verifier import LOCKOUT_PERIOD
from gateway.outbox.messages import plain_message
from gateway.outbox.queue import Outbox
from gateway.pipeline.replies import LANGUAGES, pick_language
from gateway.pipeline.scope import scope_of
from gateway.storage.models import Account, ChangeRequest


class AccountNotices:
    def __init__(
        self, sender: str, outbox: Outbox, clock: Clock, links: ContactLinks | None = None
    ) -> None:
        """`links`: the signed "I did not ask for this" links verified-change notices carry."""
        self._links = links
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
        self,
        session: AsyncSession,
        account: Account,
        request: ChangeRequest,
        hold_until: datetime | None = None,
    ) -> None:
        """The holder hears of every verified change of a kind the policies say to tell, with
        a link that stops it while staff have not acted (for the whole of a cooling-off)."""
        link = self._links.link(request.ticket, account.id, hold_until) if self._links else ""
        approved = request.method == "panel_approval"
        params = {**_about(request), "link": link, "approved": approved}
        self._send(session, account, "verified", request.ticket, params)

    def request_denied(
        self, session: AsyncSession, account: Account, request: ChangeRequest
    ) -> None:
        self._send(session, account, "denied", request.ticket, _about(request))

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


CHANNEL_WORDS = {"chat": "chat", "email": "e-mail", "phone": "phone"}


def _about(request: ChangeRequest) -> dict[str, Any]:
    return {
        "ticket": request.ticket,
        "intent": scope_of(request).intents,
        "service": request.service,
        "channel": CHANNEL_WORDS.get(request.channel, request.channel),
    }
