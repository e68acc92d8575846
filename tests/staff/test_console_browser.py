"""The staff console in headless Chromium under its strict CSP: log in with password and TOTP,
watch a verified request arrive live, open it, reply, record the action; hostile client text
stays text. SQLite only, to keep CI fast."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from tests.browser import browser  # noqa: F401
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import ChatClient, LiveGateway, live_gateway
from tests.staff.console_http import STAFF_PASSWORD, STAFF_USER, seed_staff
from tests.staff.flows import held_request, verified_request

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
HOSTILE = "<img src=x onerror=alert(1)>"
# Collected in the page before any of its scripts run (Playwright's init scripts skip the CSP).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def console_settings(tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        data={"dir": str(tmp_path / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        outbound={"smtp": f"maildir:{tmp_path / 'outbox'}", "sender": "support@example.net"},
        smtp={"port": 0},
        metrics={"port": 0},
    )


@pytest.fixture
async def gateway(console_settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    async with live_gateway(console_settings, clock) as live:
        await seed_clients(live.core)
        yield live


class StaffPage:
    """One console tab, recording what must never happen there: dialogs, CSP refusals."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def live(self) -> None:
        await self.page.wait_for_selector('#live-state[data-state="on"]')

    async def flash(self) -> str:
        return str(await self.page.locator(".flash").text_content())

    async def problems(self) -> list[str]:
        violations = await self.page.evaluate("window.__violations")
        refused = [m for m in self.console_errors if "Content Security Policy" in m]
        return [*violations, *refused, *(f"dialog: {d}" for d in self.dialogs)]


@pytest.fixture
async def console(
    browser: Any,  # noqa: F811
    gateway: LiveGateway,
) -> AsyncIterator[StaffPage]:
    """A console tab; closed before the gateway stops, so its socket does not reconnect into
    the shutdown."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        await page.add_init_script(WATCH)
        yield StaffPage(page, gateway.url)
    finally:
        await context.close()


async def log_in(page: Any, gateway: LiveGateway, clock: MovableClock) -> None:
    """A staff member through the console's login form: password and their own TOTP."""
    secret = await seed_staff(gateway.core)
    await page.goto(f"{gateway.url}/staff/")
    await page.fill("input[name=username]", STAFF_USER)
    await page.fill("input[name=password]", STAFF_PASSWORD)
    await page.fill("input[name=code]", totp_for(secret).at(clock.now()))  # staff's own TOTP
    await page.click("form.login button")


async def test_a_verified_request_from_arrival_to_recorded_action(
    gateway: LiveGateway, console: StaffPage, clock: MovableClock
) -> None:
    page = console.page
    await log_in(page, gateway, clock)
    await console.live()
    assert await page.locator(".who").text_content() == STAFF_USER

    waiting, visitor = ChatClient(gateway.url), ChatClient(gateway.url)
    await waiting.connect()
    await visitor.connect()
    try:
        held = await held_request(waiting)
        await page.wait_for_selector(f'tr.entry[data-ticket="{held}"]')
        ticket = await verified_request(visitor, clock)
        row = page.locator(f'tr.entry[data-ticket="{ticket}"]')
        await row.wait_for()  # arrived live, without a reload
        assert await page.locator("tr.entry").first.get_attribute("data-ticket") == ticket
        assert "verified" in str(await row.locator(".badge").text_content())
        held_badge = page.locator(f'tr.entry[data-ticket="{held}"] .badge')
        assert await held_badge.text_content() == "unverified — no action possible"
        await row.locator("summary").click()
        assert "totp" in str(await row.locator(".record").text_content())
        if os.environ.get("GATEWAY_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            await page.wait_for_timeout(2100)  # the arrival highlight fades
            await page.screenshot(path=str(SCREENSHOT), full_page=True)

        await row.locator("a").click()
        await page.wait_for_url("**/staff/conversations/*")
        await console.live()
        await visitor.say(HOSTILE)
        line = page.locator("#transcript .author-client .text").last
        await line.filter(has_text="onerror").wait_for()  # arrived live
        assert await line.text_content() == HOSTILE
        assert await page.locator("#transcript img").count() == 0
        live_line = page.locator("#transcript .author-client").last
        assert await live_line.get_attribute("data-covered") == "no"  # nothing verified it
        await page.reload()
        reloaded = page.locator("#transcript .author-client").last
        assert await reloaded.get_attribute("data-covered") == "no"
        assert await reloaded.locator("form.verification").count() == 1
        assert await page.locator("#transcript .author-client .text").last.text_content() == HOSTILE
        assert await page.locator("img").count() == 0

        await page.fill("form.reply textarea", "Hello Jan, Alice here. Preparing the transfer.")
        await page.click("form.reply button")
        assert await console.flash() == "Reply sent."
        await visitor.wait_for(lambda: visitor.texts("staff"))
        assert visitor.texts("staff") == ["Hello Jan, Alice here. Preparing the transfer."]

        action = page.locator("form.action")
        await action.locator("textarea").fill("Sent the transfer code, at Jan's verified request.")
        await action.locator("button").click()
        assert ticket in await console.flash() and "closed" in await console.flash()
        assert await page.locator("form.action").count() == 0
        assert await console.problems() == []
    finally:
        await waiting.close()
        await visitor.close()
