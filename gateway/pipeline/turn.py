"""One turn in progress, whoever takes it (a client's message or a staff command), and the bot's
voice that answers in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.pipeline import store
from gateway.pipeline.model import Author, ChatMessage, Command, Inbound, PanelAnswer
from gateway.pipeline.replies import Replies
from gateway.pipeline.scope import scope_of
from gateway.redaction import redact
from gateway.storage.models import ChangeRequest, Conversation
from policies import Channel


@dataclass(slots=True)
class Turn:
    """What the steps read and what they leave for the channel and the live views."""

    session: AsyncSession
    conversation: Conversation
    request: ChangeRequest | None  # the request the dialogue is working on
    command: Command
    line: ChatMessage | None = None  # the client's line, stored before the step runs
    replies: list[ChatMessage] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)  # tickets of requests that changed
    verified: bool | None = None
    error: str | None = None
    record: dict[str, Any] | None = None
    panel: PanelAnswer | None = None  # what a panel decision came to

    @property
    def inbound(self) -> Inbound | None:
        return self.command if isinstance(self.command, Inbound) else None

    def touch(self, request: ChangeRequest) -> None:
        if request.ticket not in self.touched:
            self.touched.append(request.ticket)

    def active(self) -> ChangeRequest:
        if self.request is None:
            raise RuntimeError("the dialogue reached a step that needs a request without one")
        return self.request


class Voice:
    """Bot messages, rendered in the conversation's language and kept in its transcript."""

    def __init__(self, replies: Replies, clock: Clock) -> None:
        self._replies = replies
        self._clock = clock

    async def say(
        self, session: AsyncSession, conversation: Conversation, name: str, **params: Any
    ) -> ChatMessage:
        channel = Channel(conversation.channel)
        text = self._replies.render(conversation.language, name, channel, **_masked(params))
        return await store.add_message(
            session, conversation.id, Author.BOT, text, self._clock.now()
        )

    async def reply(self, turn: Turn, name: str, **params: Any) -> None:
        turn.replies.append(await self.say(turn.session, turn.conversation, name, **params))

    async def about(self, turn: Turn, request: ChangeRequest, name: str, **params: Any) -> None:
        """A reply that says which request it is about, in the gateway's own words."""
        scope = scope_of(request)
        await self.reply(
            turn,
            name,
            ticket=request.ticket,
            intent=scope.intents,
            service=request.service,
            services=scope.services,
            destinations=scope.destinations,
            **params,
        )


def _masked(params: dict[str, Any]) -> dict[str, Any]:
    """What a reply repeats of the client's words (the services and destinations they named)
    is masked like everything staff read; the reply's own words are not client text."""
    return {
        key: redact(value)
        if isinstance(value, str)
        else tuple(redact(v) if isinstance(v, str) else v for v in value)
        if isinstance(value, tuple)
        else value
        for key, value in params.items()
    }
