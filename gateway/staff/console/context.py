"""The console's parts, built once the core is open, and the typed keys that share them with
the page handlers and the live /staff namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import jinja2
from aiohttp import web

from gateway.keys import Keys
from gateway.process.keys import CORE
from gateway.staff.console.auth import StaffLogin
from gateway.staff.console.sessions import ConsoleSessions
from gateway.staff.desk import StaffDesk


@dataclass(frozen=True, slots=True)
class Console:
    desk: StaffDesk
    sessions: ConsoleSessions
    login: StaffLogin
    keys: Keys
    public_url: str


CONSOLE = web.AppKey("staff_console", Console)
TEMPLATES = web.AppKey("staff_console_templates", jinja2.Environment)


async def console_context(app: web.Application) -> AsyncIterator[None]:
    """Registered after the core's own context, whose Core it builds on."""
    core = app[CORE]
    app[CONSOLE] = Console(
        desk=StaffDesk.of(core),
        sessions=ConsoleSessions(core.sessions, core.clock),
        login=StaffLogin(core.sessions, core.clock),
        keys=core.keys,
        public_url=core.settings.http.public_url,
    )
    yield
