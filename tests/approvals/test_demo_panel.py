"""The demo Client Panel (`gateway demo` only) over real HTTP: it exists only under panel.demo,
only for the demo clients, and a decision comes only from its own page (same origin, and the
page's CSRF token in a header matching its SameSite=Strict cookie)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.cli.demo import DEMO_ACCOUNTS, seed_demo
from gateway.config import Settings, replace
from gateway.web.demo_panel import CSRF_COOKIE, CSRF_HEADER
from tests.approvals.panel import other_number
from tests.chat.conftest import PANEL_KEY
from tests.conftest import MovableClock
from tests.live import ChatClient, LiveGateway, live_gateway

TRANSFER = "Please transfer demo.example to another registrar"
TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
async def demo(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(settings, panel={"api_key": PANEL_KEY, "demo": True})
    async with live_gateway(settings, clock) as live:
        async with live.core.sessions.begin() as session:
            await seed_demo(session, live.core)
        yield live


class PanelPage:
    """A browser on the demo panel's page: its cookie jar, the page's token and its origin."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token

    @classmethod
    async def load(cls, http: aiohttp.ClientSession, url: str) -> PanelPage:
        async with http.get(f"{url}/demo/panel") as response:
            assert response.status == 200
            found = TOKEN.search(await response.text())
        assert found is not None
        return cls(http, url, found[1])

    async def listed(self, login: str = "demo-login") -> list[dict[str, Any]]:
        async with self.http.get(
            f"{self.url}/demo/panel/api/approvals", params={"login": login}
        ) as response:
            assert response.status == 200
            return (await response.json())["approvals"]  # type: ignore[no-any-return]

    async def decide(
        self, challenge: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        sent = {"Origin": self.url, CSRF_HEADER: self.token} if headers is None else headers
        async with self.http.post(
            f"{self.url}/demo/panel/api/approvals/{challenge}", json=body, headers=sent
        ) as response:
            return response.status, await response.json()


def browser_http() -> aiohttp.ClientSession:
    """Keeps cookies from 127.0.0.1 too (aiohttp's default jar drops cookies of IP hosts)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def held(demo: LiveGateway) -> ChatClient:
    visitor = await ChatClient(demo.url).connect()
    await visitor.say(TRANSFER)
    await visitor.wait_for(lambda: "approval" in visitor.status)
    return visitor


async def test_without_demo_the_demo_panel_does_not_exist(gateway: LiveGateway) -> None:
    async with browser_http() as http:
        for path in (
            "/demo/panel",
            "/demo/panel/static/demo_panel.js",
            "/demo/panel/api/approvals?login=jan.kowalski",
        ):
            async with http.get(gateway.url + path) as response:
                assert response.status == 404, path
        async with http.post(
            f"{gateway.url}/demo/panel/api/approvals/{'A' * 22}",
            json={"login": "jan.kowalski", "decision": "deny"},
            headers={"Origin": gateway.url},
        ) as response:
            assert response.status == 404


async def test_the_page_is_strict_and_offers_only_the_demo_clients(demo: LiveGateway) -> None:
    async with browser_http() as http:
        async with http.get(f"{demo.url}/demo/panel?login=jan.kowalski") as response:
            assert response.status == 200
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert response.headers["Referrer-Policy"] == "same-origin"
            assert response.headers["Cache-Control"] == "no-store"
            cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie and "Path=/demo/panel" in cookie
        assert TOKEN.search(page) is not None and PANEL_KEY not in page
        for account in DEMO_ACCOUNTS:
            assert f'<option value="{account["login"]}"' in page
        assert '<option value="jan.kowalski" selected>' in page
        async with http.get(f"{demo.url}/demo/panel?login=anna.nowak") as response:
            assert response.status == 404
        async with http.get(f"{demo.url}/demo/panel?login=%3Cscript%3E") as response:
            assert response.status == 404
        async with http.get(f"{demo.url}/demo/panel/static/demo_panel.js") as response:
            assert response.status == 200
            assert response.content_type == "text/javascript"
            assert "innerHTML" not in await response.text()
        async with http.get(f"{demo.url}/demo/panel/static/demo_panel.css") as response:
            assert response.status == 200 and response.content_type == "text/css"
        async with http.get(f"{demo.url}/demo/panel/static/..%2Fdemo_panel.py") as response:
            assert response.status == 404
        async with http.get(
            f"{demo.url}/demo/panel/api/approvals", params={"login": "anna.nowak"}
        ) as response:
            assert response.status == 404  # not a demo client, whatever the database holds


async def test_approve_through_the_json_endpoints_verifies_the_chat_live(
    demo: LiveGateway,
) -> None:
    visitor = await held(demo)
    try:
        number = visitor.status["approval"]["number"]
        async with browser_http() as http:
            panel = await PanelPage.load(http, demo.url)
            [offer] = await panel.listed()
            assert offer["ticket"] == visitor.status["ticket"]
            assert "demo.example" in offer["description"] and "number" not in offer
            assert offer["request_text"] == TRANSFER
            assert await panel.listed("jan.kowalski") == []
            wrong = {"login": "demo-login", "decision": "approve", "number": other_number(number)}
            assert await panel.decide(offer["id"], wrong) == (
                409,
                {"status": "wrong_number", "attempts_left": 2},
            )
            # Another demo client cannot approve demo-login's request.
            theirs = {"login": "jan.kowalski", "decision": "approve", "number": number}
            assert (await panel.decide(offer["id"], theirs))[0] == 404
            right = {"login": "demo-login", "decision": "approve", "number": number}
            assert await panel.decide(offer["id"], right) == (200, {"status": "approved"})
            await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
            assert "approval" not in visitor.status
            assert await panel.listed() == []
            assert (await panel.decide(offer["id"], right))[0] == 410
    finally:
        await visitor.close()


async def test_deny_through_the_json_endpoints_locks_the_chat(demo: LiveGateway) -> None:
    visitor = await held(demo)
    try:
        async with browser_http() as http:
            panel = await PanelPage.load(http, demo.url)
            [offer] = await panel.listed()
            body = {"login": "demo-login", "decision": "deny"}
            assert await panel.decide(offer["id"], body) == (200, {"status": "denied"})
            await visitor.wait_for(lambda: visitor.status["stage"] == "locked")
            assert await panel.listed() == []
    finally:
        await visitor.close()


async def test_a_decision_needs_the_pages_origin_token_and_cookie(demo: LiveGateway) -> None:
    visitor = await held(demo)
    try:
        deny = {"login": "demo-login", "decision": "deny"}
        async with browser_http() as http:
            panel = await PanelPage.load(http, demo.url)
            [offer] = await panel.listed()
            challenge, token = offer["id"], panel.token
            refusals: list[dict[str, str]] = [
                {CSRF_HEADER: token},  # no Origin (nor Referer)
                {"Origin": "https://evil.example", CSRF_HEADER: token},
                {"Origin": "null", CSRF_HEADER: token},
                {"Referer": "https://evil.example/demo/panel", CSRF_HEADER: token},
                {"Origin": demo.url},  # no token
                {"Origin": demo.url, CSRF_HEADER: "0" * 16 + ":" + "0" * 64},
                {"Origin": demo.url, CSRF_HEADER: token[:-1] + ("0" if token[-1] != "0" else "1")},
            ]
            for headers in refusals:
                status, answer = await panel.decide(challenge, deny, headers)
                assert status == 403, headers
                assert "error" in answer
        # The page's token without its cookie (another browser) is refused too.
        async with browser_http() as other:
            stranger = PanelPage(other, demo.url, token)
            assert (await stranger.decide(challenge, deny))[0] == 403
            # ...and its own page's token does not fit the first browser's cookie, nor the reverse.
            own = await PanelPage.load(other, demo.url)
            assert own.token != token
        async with browser_http() as http:
            await PanelPage.load(http, demo.url)
            assert (await PanelPage(http, demo.url, token).decide(challenge, deny))[0] == 403
        # Nothing happened: the request is still held and still listed.
        assert visitor.status["stage"] == "authenticate" and "approval" in visitor.status
        async with browser_http() as http:
            panel = await PanelPage.load(http, demo.url)
            assert [o["id"] for o in await panel.listed()] == [challenge]
            # A referer of our own is enough when a browser sends no Origin.
            headers = {"Referer": f"{demo.url}/demo/panel", CSRF_HEADER: panel.token}
            assert await panel.decide(challenge, deny, headers) == (200, {"status": "denied"})
    finally:
        await visitor.close()


async def test_malformed_decisions_are_refused(demo: LiveGateway) -> None:
    async with browser_http() as http:
        panel = await PanelPage.load(http, demo.url)
        for challenge, body, status in [
            ("A" * 22, {"login": "anna.nowak", "decision": "deny"}, 404),
            ("A" * 22, {"login": "demo-login", "decision": "deny"}, 404),
            ("bad!id", {"login": "demo-login", "decision": "deny"}, 404),
            ("A" * 22, {"login": "demo-login", "decision": "maybe"}, 400),
            ("A" * 22, {"login": "demo-login", "decision": "approve", "number": "x"}, 400),
        ]:
            assert (await panel.decide(challenge, body))[0] == status, body
        async with http.post(
            f"{demo.url}/demo/panel/api/approvals/{'A' * 22}",
            data=b"not json",
            headers={"Origin": demo.url, CSRF_HEADER: panel.token},
        ) as response:
            assert response.status == 400
