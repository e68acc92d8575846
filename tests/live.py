"""The real gateway on a real port, and a real socket.io client to talk to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from aiohttp.test_utils import TestServer

from gateway.cli.operate import migrate
from gateway.clock import Clock
from gateway.config import Settings
from gateway.core import Core
from gateway.process.keys import CORE
from gateway.web.app import create_app
from gateway.web.metrics import METRICS_PORT


@dataclass
class LiveGateway:
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @property
    def core(self) -> Core:
        return self.server.app[CORE]

    @property
    def metrics_url(self) -> str:
        """/metrics has a listener of its own, never the public port."""
        return f"http://127.0.0.1:{self.server.app[METRICS_PORT]}"


@asynccontextmanager
async def live_gateway(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[LiveGateway]:
    await migrate(settings)
    server = TestServer(create_app(settings, clock), host="127.0.0.1")
    await server.start_server()
    try:
        yield LiveGateway(server)
    finally:
        await server.close()


@dataclass
class ChatClient:
    """A website visitor: a python-socketio client on the /chat namespace, over websocket."""

    url: str
    auth: dict[str, Any] = field(default_factory=lambda: {"language": "en"})
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    sio: socketio.AsyncClient = field(init=False)
    http: aiohttp.ClientSession = field(init=False)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> ChatClient:
        # Our own HTTP session, closed by us: engineio leaks its own when a connect is refused.
        self.http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)

        @self.sio.on("message", namespace="/chat")
        async def on_message(data: dict[str, Any]) -> None:
            self.messages.append(data)
            self._arrived.set()

        @self.sio.on("status", namespace="/chat")
        async def on_status(data: dict[str, Any]) -> None:
            self.statuses.append(data)
            self._arrived.set()

        try:
            await self.sio.connect(
                self.url,
                namespaces=["/chat"],
                transports=["websocket"],
                auth=self.auth,
                headers=self.headers,
                wait_timeout=10,
            )
        except Exception:
            await self.close()
            raise
        await self.wait_for(lambda: self.statuses and self.messages)
        return self

    async def say(self, text: str) -> dict[str, Any]:
        return await self.sio.call("message", {"text": text}, namespace="/chat", timeout=15)  # type: ignore[no-any-return]

    async def credentials(self, login: str, code: str) -> dict[str, Any]:
        data = {"login": login, "code": code}
        return await self.sio.call("credentials", data, namespace="/chat", timeout=15)  # type: ignore[no-any-return]

    async def wait_for(self, condition: Any, timeout: float = 10) -> None:
        await wait_until(self._arrived, condition, timeout)

    @property
    def status(self) -> dict[str, Any]:
        return self.statuses[-1]

    def texts(self, author: str = "bot") -> list[str]:
        return [m["text"] for m in self.messages if m["author"] == author]

    async def close(self) -> None:
        try:
            await self.sio.disconnect()
        finally:
            await self.http.close()


async def wait_until(arrived: asyncio.Event, condition: Any, timeout: float = 10) -> None:
    """Re-check `condition` each time `arrived` is set, until it holds or `timeout` passes."""

    async def until() -> None:
        while not condition():
            arrived.clear()
            await arrived.wait()

    await asyncio.wait_for(until(), timeout)
