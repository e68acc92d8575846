"""The challenge a held request is offered with when it reaches `authenticate`."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.approvals.challenges import Challenges, ChallengeStatus
from gateway.outbox.queue import Outbox
from gateway.pipeline import store
from gateway.pipeline.model import ApprovalPrompt
from gateway.pipeline.replies import Replies
from gateway.pipeline.scope import scope_of
from gateway.redaction import redact
from gateway.storage.models import ApprovalChallenge, ChangeRequest
from gateway.timefmt import iso
from policies import Channel

MAX_OFFERS = 10  # challenges one request may open in all: no endless renewals


class ApprovalOffers:
    """Opens the challenge a request in `authenticate` is offered with."""

    def __init__(
        self,
        challenges: Challenges,
        replies: Replies,
        outbox: Outbox | None = None,
        webhook_url: str = "",
    ) -> None:
        """`webhook_url`: the Client Panel's (`panel.webhook_url`), told of every challenge
        opened so it can notify the client's device; never the number."""
        self.challenges = challenges
        self._replies = replies
        self._outbox = outbox
        self._webhook_url = webhook_url

    def describe(self, request: ChangeRequest, language: str) -> str:
        """What would be done, in the gateway's own words: the action, the service and every
        destination the request names. The panel shows it; the approval covers its digest."""
        scope = scope_of(request)
        return self._replies.render(
            language,
            "description",
            Channel.EMAIL,  # plain text: the panel escapes it where it shows it
            intent=scope.intents,
            service=redact(request.service) if request.service else None,
            services=tuple(redact(name) for name in scope.services),
            destinations=scope.destinations,
        )

    async def offer(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        language: str,
        allowed: frozenset[int] | None,
    ) -> ApprovalPrompt | None:
        """A challenge for the accounts allowed to verify the request; when none is (nobody
        holds what stage 1 named), a stand-in with a number all the same. None when stage 1
        was skipped (the login alone would decide) or the request opened too many already."""
        if allowed is None:
            return None
        if await self.challenges.opened_for(session, request.id) >= MAX_OFFERS:
            return None
        holders = sorted(allowed)
        accounts = {
            account.id: account
            for account in await store.accounts_by_id(session, holders)  # one query
        }
        offers: list[tuple[int | None, str]] = [
            (account_id, self.describe(request, accounts[account_id].language))
            for account_id in holders
            if account_id in accounts
        ] or [(None, self.describe(request, language))]
        prompt, opened = await self.challenges.open(session, request, offers)
        for challenge, (account_id, description) in zip(opened, offers, strict=False):
            live = challenge.status == ChallengeStatus.PENDING  # not one that is contested
            if account_id is not None and self._webhook_url and live:
                login = accounts[account_id].login
                self._tell_panel(session, request, challenge, login, description)
        return prompt

    def _tell_panel(
        self,
        session: AsyncSession,
        request: ChangeRequest,
        challenge: ApprovalChallenge,
        login: str,
        description: str,
    ) -> None:
        if self._outbox is None:
            return
        body = {
            "event": "approval.opened",
            "id": challenge.public_id,
            "expires_at": iso(challenge.expires_at),
            "login": login,
            "ticket": request.ticket,
            "channel": request.channel,
            "intent": request.intent,
            "description": description,
        }
        payload = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
        self._outbox.add_webhook(session, self._webhook_url, payload, request.ticket)
