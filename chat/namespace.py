"""The `/chat` socket.io namespace (contract section 7): a thin translator between socket.io
events and the pipeline. It bounds what it is sent and decides nothing about security."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import socketio

from chat.wire import message_json, status_json
from gateway.credentials import Credentials
from gateway.logs import fields
from gateway.metrics import Metrics
from gateway.pipeline.conversations import Pipeline, UnknownConversation
from gateway.pipeline.model import Author, ChatMessage, Inbound, Status
from gateway.process.client_address import ClientAddress
from gateway.rates import RateLimiter
from policies import Channel

log = logging.getLogger(__name__)
MAX_ID_LENGTH = 64
MAX_FIELD_LENGTH = 128


def room(conversation: str) -> str:
    return f"conversation:{conversation}"


def _text(data: Any, key: str, limit: int) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return _whole(value) if isinstance(value, str) and 0 < len(value) <= limit else None


def _whole(text: str) -> str:
    """JSON may carry half a UTF-16 pair ("\\ud800"), which no database stores: each such
    half becomes U+FFFD, so the line is taken, not failed."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        pipeline: Callable[[], Pipeline],
        metrics: Callable[[], Metrics],
        max_length: int,
        limiter: RateLimiter,
        addresses: ClientAddress,
    ) -> None:
        """`pipeline` and `metrics` are looked up per event: the app opens them only once it
        starts."""
        super().__init__("/chat")
        self._pipeline_of = pipeline
        self._metrics_of = metrics
        self._max_length = max_length
        self._limiter = limiter
        self._addresses = addresses

    @property
    def _pipeline(self) -> Pipeline:
        return self._pipeline_of()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        client = self._peer(environ)
        conversation = _text(auth, "conversation", MAX_ID_LENGTH)
        token = _text(auth, "token", MAX_FIELD_LENGTH)
        if conversation and token:
            status = await self._pipeline.resume(conversation, token)
            if status is None:
                raise socketio.exceptions.ConnectionRefusedError("unknown conversation or token")
            history = await self._pipeline.transcript(conversation)
        else:
            opened = await self._pipeline.open_conversation(
                Channel.CHAT, client, _text(auth, "language", 8)
            )
            status, token, history = opened.status, opened.resume_token, list(opened.replies)
        session = {"conversation": status.conversation, "client": client}
        await self.save_session(sid, session)
        await self.enter_room(sid, room(status.conversation))
        await self.emit("status", status_json(status, token), to=sid)
        for line in history:
            await self.emit("message", message_json(line), to=sid)
        # Last: socket.io calls on_disconnect only for a connect that returned.
        self._metrics_of().socketio_connections.labels("chat").inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._metrics_of().socketio_connections.labels("chat").dec()

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return {"error": "empty"}
        if len(text) > self._max_length:
            return {"error": "too long"}
        return await self._turn(sid, text=_whole(text))

    async def on_credentials(self, sid: str, data: Any = None) -> dict[str, Any]:
        login, code = _text(data, "login", MAX_FIELD_LENGTH), _text(data, "code", MAX_FIELD_LENGTH)
        if login is None or code is None:
            return {"ok": False, "error": "login and code are required"}
        credentials = Credentials(login=login.strip(), code="".join(code.split()))
        outcome = await self._turn(sid, credentials=credentials)
        if "error" in outcome:
            return {"ok": False, "error": outcome["error"]}
        return {"ok": bool(outcome.get("verified"))}

    async def _turn(
        self, sid: str, text: str = "", credentials: Credentials | None = None
    ) -> dict[str, Any]:
        session = await self.get_session(sid)
        conversation = session["conversation"]
        if not self._limiter.allow(conversation):
            return {"error": "rate limited"}
        inbound = Inbound(Channel.CHAT, conversation, text, credentials, session["client"])
        try:
            outcome = await self._pipeline.handle(inbound)
        except UnknownConversation:
            return {"error": "closed"}
        except Exception:
            # Type and frames only (gateway.logs): the exception's text may quote the client.
            log.exception("chat turn failed", extra=fields(conversation=conversation))
            return {"error": "unavailable, please try again"}
        if outcome.error:
            return {"error": outcome.error}
        return {"id": outcome.message_id, "verified": outcome.verified}

    def _peer(self, environ: dict[str, Any]) -> str:
        """The client's IP for its verification record, seen through trusted proxies."""
        request = environ.get("aiohttp.request")
        remote = getattr(request, "remote", None)
        forwarded = request.headers.get("X-Forwarded-For") if request is not None else None
        return self._addresses.of(str(remote or ""), forwarded)

    # -- live events from the pipeline (EventHub subscriber) ------------------------------

    async def message(self, conversation: str, message: ChatMessage) -> None:
        if message.author is not Author.CLIENT:
            await self.emit("message", message_json(message), room=room(conversation))

    async def status(self, status: Status) -> None:
        """To every socket of the conversation, on whichever node it is connected: the token
        is the one any node states for it."""
        token = self._pipeline.resume_token(status.conversation)
        await self.emit("status", status_json(status, token), room=room(status.conversation))

    async def request(self, ticket: str) -> None:
        """Queue changes are for staff views."""
