"""The embeddable chat widget (`GET /widget.js`) and the demo page that hosts it (`GET /`).

Both are built once, when the app is created: the widget is one self-contained script (the
vendored socket.io client and the widget's code, wrapped so that neither defines a global), and
the demo page's only inline style is allowed by its hash, so its CSP needs no 'unsafe-inline'.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from gateway.vendor import socketio_client

LANGUAGES = ("pl", "en")
SCRIPT_CACHE = "public, max-age=300"
SCRIPT_CSP = "default-src 'none'; frame-ancestors 'none'"
# A Host header we are willing to echo into the page's CSP (and nothing that could add a directive).
SAFE_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

BUNDLE = """\
/*! Support gateway chat widget. Includes socket.io-client {version}: MIT licence,
 *  (c) 2014-present Guillermo Rauch and Socket.IO contributors. */
(function () {{
  // socket.io's UMD header exports to a CommonJS `module` when it finds one in scope and only
  // otherwise sets the global `io`: this local `module` keeps the host page's globals untouched.
  var module = {{ exports: {{}} }};
  var exports = module.exports;
{socketio}
;(function (io, WIDGET_CSS) {{
{widget}
}})(module.exports, {css});
}})();
"""


def _static(name: str) -> str:
    return resources.files("chat").joinpath("static", name).read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Representation:
    """One encoding of the script, with the strong ETag of exactly these bytes."""

    body: bytes
    etag: str
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class WidgetScript:
    """The bundle, plain and gzipped once: it is fetched by every page view of a provider's site."""

    plain: Representation
    gzipped: Representation

    @classmethod
    def build(cls) -> WidgetScript:
        socketio = socketio_client()
        version = re.search(r"Socket\.IO v([0-9][0-9.]*)", socketio)
        source = BUNDLE.format(
            version=version[1] if version else "4",
            socketio=socketio,
            widget=_static("widget.js").rstrip(),
            css=json.dumps(_static("widget.css")),
        ).encode("utf-8")
        digest = hashlib.sha256(source).hexdigest()[:32]
        packed = gzip.compress(source, compresslevel=9, mtime=0)
        return cls(
            Representation(source, f'"{digest}"'),
            Representation(packed, f'"{digest}-gzip"', "gzip"),
        )

    def for_request(self, request: web.Request) -> Representation:
        accepted = request.headers.get("Accept-Encoding", "")
        return self.gzipped if _accepts_gzip(accepted) else self.plain


def _accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding lists gzip without refusing it (`gzip;q=0`)."""
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            quality = params.strip().lower().removeprefix("q=")
            return not re.fullmatch(r"0(\.0*)?", quality)
    return False


def _not_modified(request: web.Request, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110, 13.1.2): a W/ prefix is ignored."""
    tags = request.if_none_match
    if not tags:
        return False
    return any(tag.value == "*" or f'"{tag.value}"' == etag for tag in tags)


@dataclass(frozen=True, slots=True)
class DemoPage:
    """The template, and the stylesheet it inlines with the hash that the CSP allows."""

    template: Template
    css: Markup
    style_hash: str

    @classmethod
    def build(cls) -> DemoPage:
        environment = Environment(
            loader=PackageLoader("chat", "templates"), autoescape=True, undefined=StrictUndefined
        )
        css = _static("demo.css")
        digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
        # Our own stylesheet, not input: it must reach <style> unescaped for its hash to match.
        trusted = Markup(css)  # noqa: S704
        return cls(environment.get_template("demo.html"), trusted, f"'sha256-{digest}'")

    def render(self, language: str, origin: str) -> str:
        return self.template.render(lang=language, css=self.css, widget_url=f"{origin}/widget.js")

    def policy(self, host: str) -> str:
        """Only what the page and the widget use: the script and socket from this origin."""
        sockets = f" ws://{host} wss://{host}" if SAFE_HOST.fullmatch(host) else ""
        return "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                f"style-src {self.style_hash}",
                f"connect-src 'self'{sockets}",
                "img-src 'self' data:",
                "frame-ancestors 'none'",
                "base-uri 'none'",
                "form-action 'none'",
                "require-trusted-types-for 'script'",
                "trusted-types 'none'",
            ]
        )


def _origin(request: web.Request) -> str:
    """As the browser sees it: behind a TLS proxy that says so, the scheme is https."""
    forwarded = request.headers.get("X-Forwarded-Proto") == "https"
    scheme = "https" if forwarded or request.secure else "http"
    return f"{scheme}://{request.host}"


class WidgetRoutes:
    """Handlers over the script and page built once at start-up."""

    def __init__(self, script: WidgetScript, page: DemoPage) -> None:
        self._script = script
        self._page = page

    async def widget_js(self, request: web.Request) -> web.Response:
        chosen = self._script.for_request(request)
        headers = {
            "ETag": chosen.etag,
            "Cache-Control": SCRIPT_CACHE,
            "Vary": "Accept-Encoding",
            "Content-Security-Policy": SCRIPT_CSP,
            # Providers' sites load it cross-origin (also with integrity= and crossorigin=).
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Access-Control-Allow-Origin": "*",
        }
        if _not_modified(request, chosen.etag):
            return web.Response(status=304, headers=headers)
        if chosen.encoding:
            headers["Content-Encoding"] = chosen.encoding
        return web.Response(
            body=chosen.body,
            headers=headers,
            content_type="application/javascript",
            charset="utf-8",
        )

    async def demo(self, request: web.Request) -> web.Response:
        language = request.query.get("lang", "pl")
        language = language if language in LANGUAGES else "pl"
        return web.Response(
            text=self._page.render(language, _origin(request)),
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": self._page.policy(request.host),
                "Cache-Control": "no-cache",
                "Content-Language": language,
            },
        )


def register_widget(app: web.Application) -> None:
    """Adds `GET /` and `GET /widget.js`; reads and builds their content once, now."""
    routes = WidgetRoutes(WidgetScript.build(), DemoPage.build())
    app.router.add_get("/", routes.demo)
    app.router.add_get("/widget.js", routes.widget_js)
