"""The demo Client Panel (`gateway demo` only): a newcomer plays the client who approves, in a
browser, the request they just made in the chat (contract section 11).

It calls the panel API's own functions server-side, so the page never holds the bearer key. It
logs nobody in (the visitor picks a demo client), so its routes exist only while
`panel.demo` is on, and then only for the demo clients. Its one state-changing request, the
decision, must come from its own page: same origin, and a signed double-submit CSRF token.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from gateway.cli.demo import DEMO_ACCOUNTS
from gateway.process.keys import CORE
from gateway.staff.console.origin import is_https, same_origin
from gateway.web.panel_api import json_body
from gateway.web.panel_approvals import CHALLENGE_ID, NO_STORE, decision, listing

DEMO_PANEL = "/demo/panel"
DEFAULT_LOGIN = "demo-login"
LOGINS = tuple(str(account["login"]) for account in DEMO_ACCOUNTS)
CSRF_COOKIE = "gw_demo_panel"
CSRF_HEADER = "X-CSRF-Token"
CSRF_LABEL = "demo-panel-csrf:"  # its own prefix: no other signature stands for this token
NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
STATIC_TYPES = {"demo_panel.js": "text/javascript", "demo_panel.css": "text/css"}
# Our own script and styles only, no inline code; fetches to this origin; nothing may frame it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Not the app-wide no-referrer: under it a browser's fetch POST says `Origin: null`.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class DemoPanel:
    """The page's template and its two static files, read once when the app is built."""

    template: Template
    static: dict[str, StaticFile]

    @classmethod
    def build(cls) -> DemoPanel:
        environment = Environment(
            loader=PackageLoader("gateway.web", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        folder = resources.files("gateway.web").joinpath("static")
        static = {
            name: StaticFile(folder.joinpath(name).read_bytes(), kind)
            for name, kind in STATIC_TYPES.items()
        }
        return cls(environment.get_template("demo_panel.html"), static)

    async def page(self, request: web.Request) -> web.Response:
        login = request.query.get("login", DEFAULT_LOGIN)
        if login not in LOGINS:
            raise web.HTTPNotFound(text="not a demo client")
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not NONCE.fullmatch(nonce):  # kept when valid, so two open tabs both work
            nonce = secrets.token_urlsafe(32)
        html = self.template.render(
            login=login,
            accounts=[_account(fields) for fields in DEMO_ACCOUNTS],
            csrf=request.app[CORE].keys.seal(CSRF_LABEL + nonce),
            api=f"{DEMO_PANEL}/api",
            static=f"{DEMO_PANEL}/static",
        )
        response = web.Response(text=html, content_type="text/html", headers=PAGE_HEADERS)
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path=DEMO_PANEL,
            httponly=True,
            samesite="Strict",
            secure=is_https(request, request.app[CORE].settings.http.public_url),
        )
        return response

    async def static_file(self, request: web.Request) -> web.Response:
        found = self.static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=found.body,
            content_type=found.content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )


def _account(fields: dict[str, Any]) -> dict[str, str]:
    return {
        "login": str(fields["login"]),
        "name": str(fields.get("name", fields["login"])),
        "services": ", ".join(str(service) for service in fields.get("services", [])),
    }


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status, headers=NO_STORE)


async def approvals(request: web.Request) -> web.Response:
    """What the logged-in demo client sees: `listing()`, as the panel's own server would."""
    login = request.query.get("login", "")
    if login not in LOGINS:
        return _answer(404, {"error": "not a demo client"})
    return _answer(*await listing(request.app[CORE], login))


async def decide(request: web.Request) -> web.Response:
    """The demo client's decision: `decision()`, only from the demo panel's own page."""
    core = request.app[CORE]
    if not same_origin(request, core.settings.http.public_url):
        return _answer(403, {"error": "decisions are accepted from the demo panel's page only"})
    nonce = request.cookies.get(CSRF_COOKIE, "")
    token = request.headers.get(CSRF_HEADER, "")
    if not NONCE.fullmatch(nonce) or not core.keys.sealed(token, CSRF_LABEL + nonce):
        return _answer(403, {"error": "missing or wrong CSRF token: reload the page"})
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    if body.get("login") not in LOGINS:
        return _answer(404, {"error": "not a demo client"})
    challenge = request.match_info["id"]
    if not CHALLENGE_ID.fullmatch(challenge):
        return _answer(404, {"error": "no such approval for this login"})
    return _answer(*await decision(core, challenge, body))


def register_demo_panel(app: web.Application) -> None:
    """Adds GET /demo/panel, its static files and its JSON API; only under `panel.demo`."""
    panel = DemoPanel.build()
    app.router.add_get(DEMO_PANEL, panel.page)
    app.router.add_get(f"{DEMO_PANEL}/static/{{name}}", panel.static_file)
    app.router.add_get(f"{DEMO_PANEL}/api/approvals", approvals)
    app.router.add_post(f"{DEMO_PANEL}/api/approvals/{{id}}", decide)
