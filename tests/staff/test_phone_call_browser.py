"""The hotline in headless Chromium under the console's strict CSP: log in, take a call, see
the number to read out with its countdown, and watch the request turn verified live when the
caller approves in the Client Panel. SQLite only, to keep CI fast.

With GATEWAY_SCREENSHOTS=1 it saves docs/screenshots/console-phone-number.png and
docs/screenshots/console-phone-verified.png."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import Settings, replace
from tests.browser import browser  # noqa: F401
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import LiveGateway, live_gateway
from tests.staff.console_http import STAFF_USER
from tests.staff.test_console_browser import WATCH, StaffPage, log_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PANEL_KEY = "panel-key-for-the-phone-browser-test"
CODE_FIELDS = "[name*=code i], [name*=kod i], [name*=otp i]"


@pytest.fixture
async def gateway(tmp_path: Path, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(
        Settings(),
        data={"dir": str(tmp_path / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        outbound={"smtp": f"maildir:{tmp_path / 'outbox'}", "sender": "support@example.net"},
        panel={"api_key": PANEL_KEY},
        smtp={"port": 0},
        metrics={"port": 0},
    )
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


@pytest.fixture
async def console(
    browser: Any,  # noqa: F811
    gateway: LiveGateway,
) -> AsyncIterator[StaffPage]:
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        page = await context.new_page()
        await page.add_init_script(WATCH)
        yield StaffPage(page, gateway.url)
    finally:
        await context.close()


async def approve_in_panel(url: str, login: str, number: str) -> None:
    """What the Client Panel's server does once its logged-in client picks the number."""
    auth = {"Authorization": f"Bearer {PANEL_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{url}/api/panel/approvals", params={"login": login}, headers=auth
        ) as listed:
            [offer] = (await listed.json())["approvals"]
        body = {"login": login, "decision": "approve", "number": number}
        async with http.post(
            f"{url}/api/panel/approvals/{offer['id']}", json=body, headers=auth
        ) as decided:
            assert (decided.status, await decided.json()) == (200, {"status": "approved"})


async def screenshot(page: Any, name: str) -> None:
    if os.environ.get("GATEWAY_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name))


async def test_a_phone_call_from_the_number_to_verified_live(
    gateway: LiveGateway, console: StaffPage, clock: MovableClock
) -> None:
    page = console.page
    await log_in(page, gateway, clock)
    await console.live()

    await page.click("a.phone-link")
    await page.wait_for_url("**/staff/phone")
    assert await page.locator(CODE_FIELDS).count() == 0
    await page.fill("input[name=stage_one]", "example.pl")
    await page.select_option("select[name=intent]", "domain_transfer")
    await page.fill(
        "textarea[name=text]", "Jan Kowalski on the phone: move example.pl to another registrar."
    )
    await page.select_option("select[name=language]", "en")
    await page.click("form.phone-call button")
    await page.wait_for_url("**/staff/conversations/*")
    await console.live()

    number = str(await page.locator("#approval-number").text_content())
    assert number.isdigit() and len(number) == 2
    countdown = page.locator("#approval-countdown")
    first = await countdown.text_content()
    await page.wait_for_function(
        "(first) => document.getElementById('approval-countdown').textContent !== first", arg=first
    )  # it counts down
    assert await page.locator(CODE_FIELDS).count() == 0
    assert "read the caller the number" in await console.flash()
    await screenshot(page, "console-phone-number.png")

    await approve_in_panel(gateway.url, "jan.kowalski", number)
    verified = page.locator("#phone .phone-verified")
    await verified.wait_for()  # live, without a reload
    assert await page.locator("#phone").get_attribute("data-stage") == "verified"
    assert await page.locator("#approval-number").is_hidden()
    assert await page.locator("#stage").text_content() == "verified"
    badge = page.locator("article.request .badge-verified")
    await badge.wait_for()
    await page.locator("article.request .request-record summary").click()
    record = str(await page.locator("article.request .request-record").text_content())
    assert "panel_approval" in record and "phone" in record and STAFF_USER in record
    await screenshot(page, "console-phone-verified.png")
    assert await console.problems() == []
