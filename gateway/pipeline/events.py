"""What happened, told after commit to whoever shows it live: the client's chat, the staff
queue. Subscribers are views; a failing one is logged and never undoes a committed turn."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from gateway.pipeline.model import ChatMessage, Status

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    async def message(self, conversation: str, message: ChatMessage) -> None: ...

    async def status(self, status: Status) -> None: ...

    async def request(self, ticket: str) -> None: ...


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def message(self, conversation: str, message: ChatMessage) -> None:
        await self._tell(*(s.message(conversation, message) for s in self._subscribers))

    async def status(self, status: Status) -> None:
        await self._tell(*(s.status(status) for s in self._subscribers))

    async def request(self, ticket: str) -> None:
        await self._tell(*(s.request(ticket) for s in self._subscribers))

    async def _tell(self, *calls: Coroutine[Any, Any, None]) -> None:
        # One after the other: a gather() would cost a task per subscriber per chat line.
        for call in calls:
            try:
                await call
            except Exception as exc:
                log.error("event subscriber failed: %s", type(exc).__name__)
