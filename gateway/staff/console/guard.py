"""The console's gatekeeping in one place: security headers on every response, a live session
for every page, and same-origin plus a CSRF token for every form post."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from gateway.staff.console.context import CONSOLE
from gateway.staff.console.cookies import SESSION_COOKIE, Flash, set_flash
from gateway.staff.console.csrf import session_token_valid
from gateway.staff.console.origin import is_https, same_origin
from gateway.staff.console.sessions import StaffIdentity

HOME = "/staff/"
# Scripts and styles come only from our own files (no inline code), so injected markup can
# neither run nor restyle the page; nothing may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not the app-wide no-referrer: under it browsers send `Origin: null` with form posts,
    # and the same-origin check needs the real one.
    "Referrer-Policy": "same-origin",
}
SESSION_ENDED = "Your session has ended: log in again."

Form = MultiDictProxy[Any]
PageHandler = Callable[[web.Request, StaffIdentity], Awaitable[web.StreamResponse]]
FormHandler = Callable[[web.Request, StaffIdentity, Form], Awaitable[web.StreamResponse]]


@web.middleware
async def console_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


async def current_staff(request: web.Request) -> StaffIdentity | None:
    return await request.config_dict[CONSOLE].sessions.find(request.cookies.get(SESSION_COOKIE))


def field(form: Form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def see_other(request: web.Request, location: str, flash: Flash | None = None) -> web.Response:
    """Every post ends in a redirect (post/redirect/get); its outcome travels as a flash."""
    response = web.Response(status=303, headers={"Location": location})
    if flash is not None:
        console = request.config_dict[CONSOLE]
        set_flash(response, console.keys, flash, secure=is_https(request, console.public_url))
    return response


def require_same_origin(request: web.Request) -> None:
    if not same_origin(request, request.config_dict[CONSOLE].public_url):
        raise web.HTTPForbidden(text="form posts are accepted from the console's own pages only")


def staff_page(handler: PageHandler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        staff = await current_staff(request)
        if staff is None:
            return see_other(request, HOME)
        return await handler(request, staff)

    return guarded


def staff_form(handler: FormHandler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        require_same_origin(request)
        staff = await current_staff(request)
        if staff is None:
            return see_other(request, HOME, Flash("error", SESSION_ENDED))
        form = await request.post()
        token = field(form, "csrf")
        if not session_token_valid(request.config_dict[CONSOLE].keys, staff.token_hash, token):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
        return await handler(request, staff, form)

    return guarded
