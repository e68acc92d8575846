"""Errbot-style test backend: push a client message, pop the bot's replies. No network."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.credentials import Credentials
from gateway.pipeline.conversations import Pipeline
from gateway.pipeline.model import Inbound, Outcome, Stage, Status
from policies import Channel


@dataclass
class MemoryChat:
    pipeline: Pipeline
    channel: Channel = Channel.CHAT
    language: str = "en"
    client: str = "198.51.100.7"
    conversation: str = ""
    status: Status | None = None
    inbox: list[str] = field(default_factory=list)

    async def open(self) -> MemoryChat:
        opened = await self.pipeline.open_conversation(self.channel, self.client, self.language)
        self.conversation, self.status = opened.status.conversation, opened.status
        self.inbox.extend(message.text for message in opened.replies)
        return self

    async def say(self, text: str) -> Outcome:
        return await self._push(Inbound(self.channel, self.conversation, text, client=self.client))

    async def form(self, login: str, code: str) -> Outcome:
        credentials = Credentials(login=login, code=code)
        inbound = Inbound(self.channel, self.conversation, credentials=credentials)
        return await self._push(inbound)

    async def _push(self, inbound: Inbound) -> Outcome:
        outcome = await self.pipeline.handle(inbound)
        self.status = outcome.status
        self.inbox.extend(message.text for message in outcome.replies)
        return outcome

    def pop(self) -> str:
        assert self.inbox, "the bot said nothing"
        return self.inbox.pop(0)

    @property
    def stage(self) -> Stage:
        assert self.status is not None
        return self.status.stage
