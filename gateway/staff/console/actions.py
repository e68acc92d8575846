"""The console's form posts: log in and out, reply, ask the bot to verify what the client
said, record the action taken, close. Each one redirects (post/redirect/get) with its outcome as
a flash.

There is no post that marks a request verified: only the client's code, checked by the
pipeline, does that (see StaffDesk).
"""

from __future__ import annotations

from aiohttp import web

from gateway.pipeline.store import UnknownConversation
from gateway.staff.console.auth import LOGIN_FAILED, LoginAttempt
from gateway.staff.console.context import CONSOLE
from gateway.staff.console.cookies import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Flash,
    drop_cookie,
    set_cookie,
)
from gateway.staff.console.csrf import login_token_valid
from gateway.staff.console.guard import (
    HOME,
    Form,
    field,
    require_same_origin,
    see_other,
    staff_form,
)
from gateway.staff.console.origin import is_https
from gateway.staff.console.sessions import StaffIdentity
from gateway.staff.desk import DeskError


def conversation_url(conversation_id: str) -> str:
    return f"{HOME}conversations/{conversation_id}"


async def login(request: web.Request) -> web.StreamResponse:
    require_same_origin(request)
    console = request.config_dict[CONSOLE]
    form = await request.post()
    if not login_token_valid(console.keys, request.cookies.get(LOGIN_COOKIE), field(form, "csrf")):
        raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the login page")
    attempt = LoginAttempt(field(form, "username"), field(form, "password"), field(form, "code"))
    user_id = await console.login.check(attempt)
    if user_id is None:
        return see_other(request, HOME, Flash("error", LOGIN_FAILED))
    # Whatever session the browser held before dies; the new one shares nothing with it.
    await console.sessions.end(request.cookies.get(SESSION_COOKIE))
    token = await console.sessions.open(user_id)
    response = see_other(request, HOME)
    secure = is_https(request, console.public_url)
    set_cookie(response, SESSION_COOKIE, token, secure=secure, max_age=None)
    drop_cookie(response, LOGIN_COOKIE)
    return response


@staff_form
async def logout(request: web.Request, staff: StaffIdentity, form: Form) -> web.StreamResponse:
    await request.config_dict[CONSOLE].sessions.end(request.cookies.get(SESSION_COOKIE))
    response = see_other(request, HOME, Flash("notice", "Logged out."))
    drop_cookie(response, SESSION_COOKIE)
    return response


@staff_form
async def reply(request: web.Request, staff: StaffIdentity, form: Form) -> web.StreamResponse:
    conversation_id = request.match_info["conversation"]
    desk = request.config_dict[CONSOLE].desk
    try:
        await desk.reply(staff.username, conversation_id, field(form, "text"))
    except UnknownConversation:
        raise web.HTTPNotFound(text="no such conversation") from None
    except DeskError as refused:
        return see_other(request, conversation_url(conversation_id), Flash("error", str(refused)))
    return see_other(request, conversation_url(conversation_id), Flash("notice", "Reply sent."))


@staff_form
async def request_verification(
    request: web.Request, staff: StaffIdentity, form: Form
) -> web.StreamResponse:
    """Turn what the client said (the `line` posted, else their latest) into a held request of
    the change named in `intent` (else the fail-closed catch-all)."""
    conversation_id = request.match_info["conversation"]
    desk = request.config_dict[CONSOLE].desk
    line, intent = field(form, "line"), field(form, "intent")
    if line and not (line.isdigit() and len(line) <= 18):
        raise web.HTTPBadRequest(text="line must be a transcript line's number")
    try:
        status = await desk.request_verification(
            staff.username, conversation_id, int(line) if line else None, intent or None
        )
    except UnknownConversation:
        raise web.HTTPNotFound(text="no such conversation") from None
    except DeskError as refused:
        return see_other(request, conversation_url(conversation_id), Flash("error", str(refused)))
    done = f"The bot is verifying the client (ticket {status.ticket}, stage {status.stage})."
    return see_other(request, conversation_url(conversation_id), Flash("notice", done))


@staff_form
async def record_action(
    request: web.Request, staff: StaffIdentity, form: Form
) -> web.StreamResponse:
    conversation_id, ticket = request.match_info["conversation"], request.match_info["ticket"]
    desk = request.config_dict[CONSOLE].desk
    entry = await desk.entry(ticket)
    if entry is None or entry.conversation != conversation_id:
        raise web.HTTPNotFound(text="no such request in this conversation")
    try:
        record = await desk.record_action(staff.username, ticket, field(form, "text"))
    except DeskError as refused:
        return see_other(request, conversation_url(conversation_id), Flash("error", str(refused)))
    done = f"Action recorded as record {record.get('record_id')}; request {ticket} is closed."
    return see_other(request, conversation_url(conversation_id), Flash("notice", done))


@staff_form
async def close_conversation(
    request: web.Request, staff: StaffIdentity, form: Form
) -> web.StreamResponse:
    conversation_id = request.match_info["conversation"]
    desk = request.config_dict[CONSOLE].desk
    try:
        await desk.close(staff.username, conversation_id)
    except UnknownConversation:
        raise web.HTTPNotFound(text="no such conversation") from None
    except DeskError as refused:
        return see_other(request, conversation_url(conversation_id), Flash("error", str(refused)))
    done = "The conversation is closed; requests still waiting in it were withdrawn."
    return see_other(request, conversation_url(conversation_id), Flash("notice", done))
