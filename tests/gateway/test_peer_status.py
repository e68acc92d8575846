"""Stage changes told between nodes through the real Redis: a node forgets what it knew of a
conversation another node changed, and trusts none of its knowledge while it cannot listen."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.pipeline.model import Stage, Status
from gateway.pipeline.peer_status import PeerStatus
from gateway.pipeline.states import ConversationStates
from tests.services import REDIS_URL

OPEN = Status("c1", Stage.OPEN, None, None)


@contextlib.asynccontextmanager
async def node(redis: Redis, prefix: str) -> AsyncIterator[tuple[PeerStatus, ConversationStates]]:
    states = ConversationStates()
    peers = PeerStatus(redis, prefix, states)
    task = asyncio.create_task(peers.run())
    try:
        await asyncio.wait_for(peers.subscribed.wait(), 5)
        yield peers, states
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def redis(services: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_a_change_on_one_node_is_forgotten_on_the_other(redis: Redis) -> None:
    prefix = f"gw-test-{uuid.uuid4().hex[:8]}"
    async with node(redis, prefix) as (a, a_states), node(redis, prefix) as (b, b_states):
        a_states.remember(OPEN, with_staff=True, language="en")
        b_states.remember(OPEN, with_staff=True, language="en")
        await b.status(Status("c1", Stage.IDENTIFY, "T-AAAAAA", "staff_request"))
        async with asyncio.timeout(5):
            while a_states.get("c1") is not None:
                await asyncio.sleep(0.01)
        assert b_states.get("c1") is not None  # its own change it learned first-hand


async def test_without_a_subscription_nothing_cached_is_trusted() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    states = ConversationStates()
    peers = PeerStatus(unreachable, "gw-test", states)
    task = asyncio.create_task(peers.run())
    try:
        await asyncio.sleep(0.3)
        states.remember(OPEN, with_staff=True, language="en")
        assert states.get("c1") is None and not peers.subscribed.is_set()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await unreachable.aclose()
