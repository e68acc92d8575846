"""A staff member's browser, minus the browser: an aiohttp session with a cookie jar that reads
the console's forms and posts them back as a browser would (Origin header and CSRF field)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.core import Core
from gateway.staff.users import add_staff_user
from gateway.storage.models import StaffUser
from tests.conftest import MovableClock
from tests.live import wait_until

STAFF_USER = "alice"
STAFF_PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>')


async def seed_staff(core: Core, username: str = STAFF_USER) -> str:
    """Adds a staff user; returns the TOTP secret their authenticator app would hold."""
    async with core.sessions.begin() as session:
        await add_staff_user(session, core.clock, username, STAFF_PASSWORD)
        user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        return user.totp_secret


def fresh_code(secret: str, clock: MovableClock) -> str:
    """A code of a step not used yet: a login refuses any step it has already accepted."""
    clock.advance(seconds=30)
    return totp_for(secret).at(clock.now())


@dataclass
class StaffHttp:
    base: str
    http: aiohttp.ClientSession

    @classmethod
    def open(cls, base: str) -> StaffHttp:
        # unsafe=True: the test server is 127.0.0.1, whose cookies a strict jar would drop.
        return cls(base, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))

    async def close(self) -> None:
        await self.http.close()

    @property
    def session_cookie(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == "gw_staff":
                return cookie.value
        return None

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=False) as response:
            return response.status, await response.text()

    async def page(self, path: str = "/staff/") -> str:
        async with self.http.get(self.base + path) as response:
            assert response.status == 200, response.status
            return await response.text()

    async def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        """Posts without following the redirect, so the test sees the status and cookies."""
        sent = {"Origin": self.base, **(headers or {})}
        sent = {name: value for name, value in sent.items() if value}  # "" leaves a header out
        async with self.http.post(
            self.base + path, data=data, headers=sent, allow_redirects=False
        ) as response:
            await response.read()
            return response

    async def submit(self, path: str, form_page: str, **fields: str) -> aiohttp.ClientResponse:
        """Posts a form with the CSRF token of the page it was on."""
        return await self.post(path, {"csrf": csrf_of(await self.page(form_page)), **fields})

    async def login(self, username: str, password: str, code: str) -> aiohttp.ClientResponse:
        return await self.submit(
            "/staff/login", "/staff/", username=username, password=password, code=code
        )

    async def flash(self, response: aiohttp.ClientResponse) -> tuple[str, str] | None:
        """The redirect's flash, as the page it points to shows it."""
        assert response.status == 303, response.status
        match = FLASH.search(await self.page(response.headers["Location"]))
        return (match.group(1), match.group(2)) if match else None


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def set_cookies(response: aiohttp.ClientResponse, name: str) -> list[str]:
    return [h for h in response.headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]


def logged_in(html: str) -> bool:
    return 'action="/staff/logout"' in html


@dataclass
class StaffFeed:
    """The console's live feed as a python-socketio client: /staff over /staff/socket.io/."""

    url: str
    cookie: str | None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sio: socketio.AsyncClient = field(init=False)
    http: aiohttp.ClientSession = field(init=False)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> StaffFeed:
        self.http = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        for name in ("message", "status", "request"):
            self.sio.on(name, self._recorder(name), namespace="/staff")
        self.sio.on("disconnect", self._arrived.set, namespace="/staff")
        headers = dict(self.headers)
        if self.cookie is not None:
            headers["Cookie"] = f"gw_staff={self.cookie}"
        try:
            await self.sio.connect(
                self.url,
                namespaces=["/staff"],
                socketio_path="staff/socket.io",
                transports=["websocket"],
                headers=headers,
                wait_timeout=10,
            )
        except Exception:
            await self.http.close()
            raise
        return self

    def _recorder(self, name: str) -> Any:
        async def record(data: dict[str, Any]) -> None:
            self.events.append((name, data))
            self._arrived.set()

        return record

    def of(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, condition: Any, timeout: float = 10) -> None:
        await wait_until(self._arrived, condition, timeout)

    @property
    def connected(self) -> bool:
        return "/staff" in self.sio.namespaces

    async def close(self) -> None:
        try:
            await self.sio.disconnect()
        finally:
            await self.http.close()
