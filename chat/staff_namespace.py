"""The `/staff` socket.io namespace: the console's live feed. Only a browser holding a live
console session may join; it then hears every new message, status change and queue change.

It is reached at /staff/socket.io/ so that the session cookie, confined to /staff, travels with
the handshake. It only pushes: every staff action goes through the console's CSRF-checked forms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web
from socketio.async_pubsub_manager import AsyncPubSubManager

from chat.wire import message_json, status_json
from gateway.metrics import Metrics
from gateway.pipeline.model import ChatMessage, Status
from gateway.process.keys import CORE
from gateway.staff.console import CONSOLE, Console
from gateway.staff.console.cookies import SESSION_COOKIE
from gateway.staff.console.origin import foreign_origin
from gateway.staff.desk import entry_json

STAFF_ROOM = "staff"
STAFF_SOCKETIO_PATH = "staff/socket.io"
# How stale the check that each watcher's session is still live may be: a logout or a timeout
# cuts the feed off at the first event after this, without a query per event.
SESSION_RECHECK_SECONDS = 1.0


class StaffNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, console: Callable[[], Console], metrics: Callable[[], Metrics]) -> None:
        """`console` and `metrics` are looked up per event: the app builds them only once it
        starts."""
        super().__init__("/staff")
        self._console_of = console
        self._metrics_of = metrics
        self._watchers: dict[str, str] = {}  # sid -> session token hash
        self._checked_at = 0.0

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        console = self._console_of()
        request = environ.get("aiohttp.request")
        if isinstance(request, web.Request) and foreign_origin(request, console.public_url):
            raise socketio.exceptions.ConnectionRefusedError("foreign origin")
        token = request.cookies.get(SESSION_COOKIE) if isinstance(request, web.Request) else None
        staff = await console.sessions.find(token, touch=False)
        if staff is None:
            raise socketio.exceptions.ConnectionRefusedError("log in to the staff console")
        self._watchers[sid] = staff.token_hash
        await self.enter_room(sid, STAFF_ROOM)
        # Last: socket.io calls on_disconnect only for a connect that returned.
        self._metrics_of().socketio_connections.labels("staff").inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._watchers.pop(sid, None)
        self._metrics_of().socketio_connections.labels("staff").dec()

    # -- live events from the pipeline (EventHub subscriber) ------------------------------

    async def message(self, conversation: str, message: ChatMessage) -> None:
        if self._anyone_may_listen():  # the common case on one node: build nothing for nobody
            await self._push(
                "message", {"conversation": conversation, "message": message_json(message)}
            )

    async def status(self, status: Status) -> None:
        """The stage as staff see it: never the client's resume token, nor the approval
        number a client was shown (a phone agent's page has its own call's number)."""
        data = status_json(status, None)
        del data["token"]
        data.pop("approval", None)
        await self._push("status", data)

    async def request(self, ticket: str) -> None:
        if not ticket or not self._anyone_may_listen():
            return
        entry = await self._console_of().desk.entry(ticket)
        if entry is not None:
            await self._push("request", entry_json(entry))

    async def _push(self, event: str, data: dict[str, Any]) -> None:
        if not self._anyone_may_listen():
            return
        await self._drop_ended_sessions()
        await self.emit(event, data, room=STAFF_ROOM)

    def _anyone_may_listen(self) -> bool:
        """Watchers here, or possibly on another node when a message queue links the nodes."""
        return bool(self._watchers) or isinstance(self.server.manager, AsyncPubSubManager)

    async def _drop_ended_sessions(self) -> None:
        now = asyncio.get_running_loop().time()
        if not self._watchers or now - self._checked_at < SESSION_RECHECK_SECONDS:
            return
        self._checked_at = now
        live = await self._console_of().sessions.live(set(self._watchers.values()))
        for sid, hashed in list(self._watchers.items()):
            if hashed not in live:
                self._watchers.pop(sid, None)
                await self.disconnect(sid)


STAFF_NAMESPACE = web.AppKey("staff_namespace", StaffNamespace)


def attach_staff_namespace(server: socketio.AsyncServer, app: web.Application) -> StaffNamespace:
    """Register /staff on the chat's server and serve that server under /staff/socket.io/ too.
    The app subscribes it to the pipeline's events once the core is open (see chat_context)."""
    namespace = StaffNamespace(lambda: app[CONSOLE], lambda: app[CORE].metrics)
    server.register_namespace(namespace)
    server.attach(app, socketio_path=STAFF_SOCKETIO_PATH)
    app[STAFF_NAMESPACE] = namespace
    return namespace
