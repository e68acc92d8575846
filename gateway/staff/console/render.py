"""Pages from jinja2 templates with autoescaping on: every value from a client, a record or the
database is text in the page, never markup."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from gateway.staff.console.context import CONSOLE, TEMPLATES
from gateway.staff.console.cookies import FLASH_COOKIE, drop_cookie, read_flash
from gateway.staff.console.csrf import session_token
from gateway.staff.console.sessions import StaffIdentity
from gateway.staff.desk import QUEUE_ORDER

# What the queue and the conversation page show of a verification record, in this order.
RECORD_FIELDS = (
    "record_id",
    "channel",
    "verification",
    "method",
    "verified_at",
    "failed_attempts",
    "client",
    "sender_authentication",
    "hash",
)
VERIFICATION_ORDER = tuple(QUEUE_ORDER)  # the desk's: verified first, unverified last


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.staff.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["utc"] = utc
    environment.globals.update(
        record_fields=RECORD_FIELDS, verification_order=" ".join(VERIFICATION_ORDER)
    )
    return environment


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(
    request: web.Request,
    template: str,
    staff: StaffIdentity | None,
    csrf: str | None = None,
    **context: Any,
) -> web.Response:
    """`csrf` defaults to the session's token; the login page passes its own."""
    console = request.config_dict[CONSOLE]
    if csrf is None:
        csrf = session_token(console.keys, staff.token_hash) if staff else ""
    html = (
        request.config_dict[TEMPLATES]
        .get_template(template)
        .render(staff=staff, csrf=csrf, flash=read_flash(request, console.keys), **context)
    )
    response = web.Response(
        text=html, content_type="text/html", headers={"Cache-Control": "no-store"}
    )
    if FLASH_COOKIE in request.cookies:
        drop_cookie(response, FLASH_COOKIE)  # shown once
    return response
