"""socket.io between nodes over the real Redis: a burst of emits reaches the other nodes in
full and holds a bounded number of connections (python-socketio's own manager, on redis-py's
default pool, failed past 100 at once and left a client's worth of connections open each time)."""

from __future__ import annotations

import asyncio
import uuid

import socketio
from redis.asyncio import Redis

from chat.server import client_manager
from gateway.storage.redis_client import MAX_CONNECTIONS
from tests.services import REDIS_URL


async def connected_clients(redis: Redis) -> int:
    return int((await redis.info("clients"))["connected_clients"])


async def test_a_burst_of_emits_arrives_whole_on_bounded_connections(services: None) -> None:
    prefix = f"gw-test-{uuid.uuid4().hex[:8]}"
    observer = Redis.from_url(REDIS_URL)
    other_node = observer.pubsub()
    await other_node.subscribe(f"{prefix}-socketio")
    server = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=client_manager(REDIS_URL, prefix)
    )
    try:
        before = await connected_clients(observer)
        burst = 500
        await asyncio.gather(*(server.emit("message", {"n": n}, room="r") for n in range(burst)))
        during = await connected_clients(observer)
        received = 0
        async with asyncio.timeout(10):
            while received < burst:
                item = await other_node.get_message(ignore_subscribe_messages=True, timeout=1)
                received += item is not None
        assert received == burst
        assert during - before <= MAX_CONNECTIONS
    finally:
        await server.manager.close()
        await other_node.aclose()
        await observer.aclose()
