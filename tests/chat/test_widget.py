"""GET /widget.js and GET / over real HTTP: one cached, self-contained script, and a demo page
under a strict Content-Security-Policy."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from chat.widget import _accepts_gzip
from gateway.config import Settings
from tests.conftest import MovableClock
from tests.live import LiveGateway, live_gateway

PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings, clock) as live:
        yield live


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


def directives(policy: str) -> dict[str, str]:
    pairs = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in pairs}


async def test_widget_js_is_one_script_with_the_socketio_client_and_the_widget(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway.url}/widget.js", headers=PLAIN) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
        assert "Content-Encoding" not in response.headers
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert directives(response.headers["Content-Security-Policy"])["default-src"] == "'none'"
        source = (await response.read()).decode("utf-8")
    assert "Socket.IO v4.8.4" in source and "MIT" in source
    assert "support-gateway:" in source and "credentials" in source  # the widget's code
    assert ".launcher" in source  # its stylesheet, carried inside the script
    assert "sourceMappingURL" not in source
    # Both run inside one function: socket.io finds a local `module`, not the page's globals.
    assert source.index("var module = { exports: {} };") < source.index("Socket.IO v4.8.4")
    assert source.rstrip().endswith("})();")


async def test_widget_js_has_a_strong_etag_and_answers_304(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    url = f"{gateway.url}/widget.js"
    async with http.get(url, headers=PLAIN) as response:
        etag = response.headers["ETag"]
        body = await response.read()
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/ prefix
    for match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        async with http.get(url, headers={**PLAIN, "If-None-Match": match}) as response:
            assert response.status == 304, match
            assert response.headers["ETag"] == etag
            assert await response.read() == b""
    async with http.get(url, headers={**PLAIN, "If-None-Match": '"stale"'}) as response:
        assert response.status == 200
        assert await response.read() == body


async def test_widget_js_is_served_gzipped_with_its_own_etag(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    url = f"{gateway.url}/widget.js"
    async with http.get(url, headers=PLAIN) as response:
        plain, plain_etag = await response.read(), response.headers["ETag"]
    async with http.get(url, headers={"Accept-Encoding": "gzip, br"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        packed, packed_etag = await response.read(), response.headers["ETag"]
    assert gzip.decompress(packed) == plain
    assert packed_etag != plain_etag and len(packed) < len(plain) / 2
    headers = {"Accept-Encoding": "gzip", "If-None-Match": packed_etag}
    async with http.get(url, headers=headers) as response:
        assert response.status == 304


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
    ],
)
def test_which_requests_get_gzip(header: str, gzipped: bool) -> None:
    assert _accepts_gzip(header) is gzipped


async def test_the_demo_page_embeds_the_widget_under_a_strict_policy(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway.url}/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        policy = directives(response.headers["Content-Security-Policy"])
        page = await response.text()
    host = gateway.url.removeprefix("http://")
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert policy["frame-ancestors"] == policy["base-uri"] == policy["form-action"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert not any("unsafe" in value or "*" in value for value in policy.values())
    # The one inline style is allowed by its hash, and it is the page's only inline anything.
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style[1].encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert page.count("<script") == 1
    assert '<script src="/widget.js" data-language="pl"></script>' in page
    assert '<html lang="pl">' in page
    snippet = f'&lt;script src="{gateway.url}/widget.js" data-language="pl"&gt;&lt;/script&gt;'
    assert snippet in page  # shown for copying, as text


@pytest.mark.parametrize(("query", "language"), [("?lang=en", "en"), ("?lang=xx", "pl")])
async def test_the_demo_page_switches_language(
    gateway: LiveGateway, http: aiohttp.ClientSession, query: str, language: str
) -> None:
    async with http.get(f"{gateway.url}/{query}") as response:
        assert response.headers["Content-Language"] == language
        page = await response.text()
    assert f'<html lang="{language}">' in page
    assert f'<script src="/widget.js" data-language="{language}"></script>' in page
    assert ("How the secure chat works" in page) is (language == "en")


async def test_a_forged_host_header_cannot_widen_the_policy(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    headers = {"Host": "evil.example; script-src *"}
    async with http.get(f"{gateway.url}/", headers=headers) as response:
        policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
