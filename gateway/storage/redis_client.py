"""Redis clients whose pool waits for a free connection rather than fail.

redis-py's default pool raises "Too many connections" once 100 commands are in flight (a burst
of emits under load), and python-socketio's Redis manager answers any failed publish by building
a new client and abandoning the old one's connections, open. Under 200 chats and a mail
stream that leaked hundreds of connections within minutes (bench/soak.py). A bounded pool that
queues the 65th publish for a moment is what a node needs.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

MAX_CONNECTIONS = 64
WAIT_SECONDS = 5.0


def redis_pool(url: str) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_SECONDS
    )


def redis_client(url: str) -> Redis:
    """Closing the client closes its pool."""
    return Redis.from_pool(redis_pool(url))
