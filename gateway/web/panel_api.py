"""The Client Panel's API: a logged-in client asks for a single-use code to read out or type."""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from gateway.codes.issuing import UnknownLogin, UnknownTicket, issue_panel_code
from gateway.credentials import LOGIN_PATTERN
from gateway.pipeline.tickets import TICKET_PATTERN
from gateway.process.keys import CORE
from gateway.timefmt import iso

MAX_BODY_BYTES = 4096


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def refused(request: web.Request) -> web.Response | None:
    """None if the request carries the panel's bearer key; the panel API is off without one."""
    api_key = request.app[CORE].settings.panel.api_key
    if not api_key:
        raise web.HTTPNotFound()
    presented = request.headers.get("Authorization", "")
    expected = f"Bearer {api_key}"
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return web.json_response(
            {"error": "invalid or missing bearer key"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The body as a JSON object, or the error response saying why it is not one."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _error(413, "body too large")
    try:
        body = json.loads(await request.content.read(MAX_BODY_BYTES + 1))
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


async def authorised_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object a request with the panel's bearer key carries, or the refusal."""
    denied = refused(request)
    return denied if denied is not None else await json_body(request)


async def create_panel_code(request: web.Request) -> web.Response:
    core = request.app[CORE]
    body = await authorised_body(request)
    if isinstance(body, web.Response):
        return body
    if set(body) - {"login", "ticket"}:
        return _error(400, "body must be a JSON object with login and optional ticket")
    login, ticket = body.get("login"), body.get("ticket")
    if not isinstance(login, str) or not LOGIN_PATTERN.fullmatch(login):
        return _error(400, "login is missing or malformed")
    if ticket is not None and (not isinstance(ticket, str) or not TICKET_PATTERN.fullmatch(ticket)):
        return _error(400, "ticket must look like T-XXXXXX")
    try:
        async with core.sessions.begin() as session:
            issued = await issue_panel_code(session, core.keys.secret, core.clock, login, ticket)
    except UnknownLogin:
        return _error(404, "unknown login")
    except UnknownTicket:
        return _error(404, "unknown ticket")
    expires = iso(issued.expires_at)
    return web.json_response(
        {"code": issued.code, "expires_at": expires},
        status=201,
        headers={"Cache-Control": "no-store"},
    )
