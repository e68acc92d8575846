"""The console's pages: the login form or the live queue at /staff/, and one conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from gateway.staff.console.context import CONSOLE
from gateway.staff.console.cookies import LOGIN_COOKIE, set_cookie
from gateway.staff.console.csrf import login_token, new_login_nonce
from gateway.staff.console.guard import current_staff, staff_page
from gateway.staff.console.origin import is_https
from gateway.staff.console.render import render
from gateway.staff.console.sessions import StaffIdentity
from gateway.staff.desk import DeskError
from gateway.vendor import socketio_client

LOGIN_FORM_SECONDS = 30 * 60
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str


STATIC_FILES = web.AppKey("staff_console_static", dict)


def static_files() -> dict[str, StaticFile]:
    """Read once when the app is built; the socket.io client is the very file the widget ships."""
    ours = resources.files("gateway.staff.console").joinpath("static")
    texts = {name: ours.joinpath(name).read_text("utf-8") for name in ("console.js", "console.css")}
    texts["socket.io.min.js"] = socketio_client()
    return {
        name: StaticFile(text.encode(), CONTENT_TYPES[name[name.rindex(".") :]])
        for name, text in texts.items()
    }


async def index(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    if staff is None:
        return login_page(request)
    entries = await request.config_dict[CONSOLE].desk.queue()
    return render(request, "queue.html", staff, entries=entries)


def login_page(request: web.Request) -> web.Response:
    """The login form carries the HMAC of a nonce that its own cookie carries (double submit)."""
    console = request.config_dict[CONSOLE]
    nonce = new_login_nonce()
    response = render(request, "login.html", None, csrf=login_token(console.keys, nonce))
    secure = is_https(request, console.public_url)
    set_cookie(response, LOGIN_COOKIE, nonce, secure=secure, max_age=LOGIN_FORM_SECONDS)
    return response


@staff_page
async def conversation(request: web.Request, staff: StaffIdentity) -> web.StreamResponse:
    conversation_id = request.match_info["conversation"]
    try:
        view = await request.config_dict[CONSOLE].desk.conversation(conversation_id)
    except DeskError:
        raise web.HTTPNotFound(text="no such conversation") from None
    return render(request, "conversation.html", staff, conversation_id=conversation_id, view=view)


@staff_page
async def evidence(request: web.Request, staff: StaffIdentity) -> web.StreamResponse:
    """A ticket's evidence, printable; `.json` gives the same bundle as `gateway audit
    export`, for a dispute file or a second opinion."""
    ticket = request.match_info["ticket"]
    try:
        bundle = await request.config_dict[CONSOLE].desk.evidence(ticket)
    except DeskError:
        raise web.HTTPNotFound(text="no such ticket") from None
    if request.match_info.get("format") == ".json":
        return web.json_response(
            bundle,
            dumps=lambda value: json.dumps(value, ensure_ascii=False, indent=2),
            headers={"Content-Disposition": f'attachment; filename="{ticket}-evidence.json"'},
        )
    pretty = {
        "verification": json.dumps(bundle["verification_record"], ensure_ascii=False, indent=2),
        "actions": [json.dumps(a, ensure_ascii=False, indent=2) for a in bundle["staff_actions"]],
    }
    return render(request, "evidence.html", staff, ticket=ticket, bundle=bundle, pretty=pretty)


async def static(request: web.Request) -> web.StreamResponse:
    found = request.app[STATIC_FILES].get(request.match_info["name"])
    if not isinstance(found, StaticFile):
        raise web.HTTPNotFound()
    return web.Response(
        body=found.body,
        content_type=found.content_type,
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )
