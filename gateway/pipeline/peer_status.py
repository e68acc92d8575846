"""Stage changes told between nodes, so that no node takes a client's line on its cached
knowledge of a conversation whose stage another node has changed (staff asked for verification,
or closed it, there).

Fail closed: whenever this node is not subscribed (Redis down, reconnecting), it trusts none of
its cached stages, and every turn takes the full path under the conversation's row lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.pipeline.model import ChatMessage, Status
from gateway.pipeline.states import ConversationStates

log = logging.getLogger(__name__)
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


class PeerStatus:
    """An EventHub subscriber that publishes this node's stage changes, and a task that
    applies the other nodes' to this node's ConversationStates."""

    def __init__(self, redis: Redis, prefix: str, states: ConversationStates) -> None:
        self._redis = redis
        self._channel = f"{prefix}-status"
        self._states = states
        self._node = secrets.token_hex(8)
        self.subscribed = asyncio.Event()
        states.trust(False)

    async def message(self, conversation: str, message: ChatMessage) -> None:
        """Lines do not change a stage."""

    async def status(self, status: Status) -> None:
        note = json.dumps({"node": self._node, "conversation": status.conversation})
        try:
            await self._redis.publish(self._channel, note)
        except RedisError as exc:
            # The peers lose their subscription too, and stop trusting their caches.
            log.warning("stage change not told to peers: %s", type(exc).__name__)

    async def request(self, ticket: str) -> None:
        """Requests do not change a stage."""

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                log.warning("peer stage changes unavailable: %s", type(exc).__name__)
            self._distrust()
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    async def _listen(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._channel)
            # Whatever changed while we were not listening is unknown: start from nothing.
            self._states.clear()
            self._states.trust(True)
            self.subscribed.set()
            async for item in pubsub.listen():
                self._apply(item.get("data"))

    def _apply(self, data: object) -> None:
        try:
            note = json.loads(data) if isinstance(data, bytes | str) else None
        except ValueError:
            note = None
        if not isinstance(note, dict) or not isinstance(note.get("conversation"), str):
            return
        if note.get("node") != self._node:
            self._states.forget(note["conversation"])

    def _distrust(self) -> None:
        self.subscribed.clear()
        self._states.trust(False)
