"""The socket.io server, attached to the gateway's aiohttp app and event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis

from chat.namespace import ChatNamespace
from gateway.config import Settings
from gateway.pipeline.conversations import Pipeline
from gateway.process.client_address import ClientAddress
from gateway.process.keys import CORE
from gateway.rates import RateLimiter, parse_rate
from gateway.storage.redis_client import redis_pool

MAX_PACKET_BYTES = 64 * 1024


def origin_check(allowed: list[str]) -> Callable[[str | None, dict[str, Any]], bool]:
    """Same origin always; other origins only when configured in chat.allowed_origins."""
    configured = {origin.rstrip("/") for origin in allowed}

    def allow(origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: CORS and cross-site websockets are a browser's threat
        scheme = "https" if environ.get("HTTP_X_FORWARDED_PROTO") == "https" else "http"
        same = f"{scheme}://{environ.get('HTTP_HOST', '')}"
        return origin in configured or origin == same

    return allow


def client_manager(redis_url: str, prefix: str) -> socketio.AsyncManager:
    """Alone: rooms in this process. With Redis: an emit to a room reaches its members on every
    node, so staff on one node talk to a client connected to another."""
    if not redis_url:
        return socketio.AsyncManager()
    return RedisManager(redis_url, channel=f"{prefix}-socketio")


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager on one waiting pool for its whole life: its own
    reconnection builds a new client each time and leaves the old one's connections open
    (gateway.storage.redis_client says when that happens)."""

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self._pool = redis_pool(url)

    def _redis_connect(self) -> None:
        self.redis = Redis(connection_pool=self._pool)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    async def close(self) -> None:
        await self._pool.disconnect()


CHAT_NAMESPACE = web.AppKey("chat_namespace", ChatNamespace)
SOCKETIO = web.AppKey("socketio", socketio.AsyncServer)


def attach_socketio(
    app: web.Application, settings: Settings, pipeline: Callable[[], Pipeline]
) -> socketio.AsyncServer:
    """Routes must exist before the app starts; the pipeline is opened later, on start-up."""
    server = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=client_manager(settings.redis.url, settings.redis.prefix),
        cors_allowed_origins=origin_check(settings.chat.allowed_origins),
        max_http_buffer_size=MAX_PACKET_BYTES,
        logger=False,
        engineio_logger=False,
    )
    chat = ChatNamespace(
        pipeline,
        lambda: app[CORE].metrics,
        settings.chat.max_message_length,
        RateLimiter(parse_rate(settings.chat.rate_limit)),
        ClientAddress(settings.http.trusted_proxies),
    )
    server.register_namespace(chat)
    server.attach(app)
    app[CHAT_NAMESPACE] = chat
    app[SOCKETIO] = server
    app.on_shutdown.append(drop_connections)
    return server


async def stop_socketio(server: socketio.AsyncServer) -> None:
    """After drop_connections: stop engine.io's background tasks, which would otherwise
    outlive the app, and close the Redis pool of a multi-node manager."""
    await server.shutdown()
    if isinstance(server.manager, RedisManager):
        await server.manager.close()


async def drop_connections(app: web.Application) -> None:
    """On shutdown, cut every socket.io connection at the transport. Browsers ignore an
    engine.io CLOSE sent over a websocket and would hold the shutdown until their ping timeout
    (about 45 s); a dropped connection they notice at once, and reconnect — to another node
    when this one is gone — resuming their conversation with its token."""
    for environ in list(app[SOCKETIO].environ.values()):
        transport = getattr(environ.get("aiohttp.request"), "transport", None)
        if transport is not None:
            transport.close()
