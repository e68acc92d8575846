"""The staff console at /staff/: log in with password and TOTP, watch the queue live, read a
conversation, reply, ask the bot to verify the client, take a phone call, record the action
taken.

It is a sub-application so that its stricter headers and its session and CSRF checks apply to
its own routes and nothing else.
"""

from __future__ import annotations

from aiohttp import web

from gateway.staff.console import actions, phone, views
from gateway.staff.console.context import CONSOLE, TEMPLATES, Console, console_context
from gateway.staff.console.guard import HOME, console_headers
from gateway.staff.console.render import templates

__all__ = ["CONSOLE", "Console", "register_console"]

CONVERSATION = "/conversations/{conversation:[A-Za-z0-9_-]{1,32}}"
TICKET = "{ticket:T-[A-Z0-9]{6}}"


def register_console(app: web.Application) -> None:
    """Call after the core's cleanup context is registered: the console is built on it."""
    app.cleanup_ctx.append(console_context)
    console = web.Application(middlewares=[console_headers])
    console[TEMPLATES] = templates()
    console[views.STATIC_FILES] = views.static_files()
    console.router.add_get("/", views.index)
    console.router.add_get("/static/{name}", views.static)
    console.router.add_get(CONVERSATION, views.conversation)
    console.router.add_get("/phone", phone.phone_page)
    console.router.add_get(f"/tickets/{TICKET}{{format:(\\.json)?}}", views.evidence)
    console.router.add_post("/login", actions.login)
    console.router.add_post("/logout", actions.logout)
    console.router.add_post("/phone", phone.phone_call)
    console.router.add_post(f"{CONVERSATION}/reply", actions.reply)
    console.router.add_post(f"{CONVERSATION}/verification", actions.request_verification)
    console.router.add_post(f"{CONVERSATION}/requests/{TICKET}/action", actions.record_action)
    console.router.add_post(f"{CONVERSATION}/close", actions.close_conversation)
    app.router.add_get(HOME.rstrip("/"), _to_home)  # before the sub-app, which would take it
    app.add_subapp(HOME.rstrip("/"), console)


async def _to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(HOME)
