"""Contract section 11 in headless Chromium: the widget on the demo page shows the approval
number with its countdown, the demo Client Panel in a second page approves it, and the widget
turns verified, live. Both pages run under their strict CSPs. SQLite only, to keep CI fast.

With GATEWAY_SCREENSHOTS=1 it saves the README's screenshots into docs/screenshots/."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.demo import seed_demo
from gateway.config import Settings, replace
from tests.approvals.panel import other_number
from tests.browser import browser  # noqa: F401
from tests.chat.conftest import PANEL_KEY
from tests.chat.test_widget_browser import WATCH, Visitor
from tests.conftest import MovableClock
from tests.live import LiveGateway, live_gateway

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 900, "height": 700}
TRANSFER = "Please transfer demo.example to another registrar"
MARKUP = "<img src=x onerror=alert(1)>"


def screenshot(name: str) -> Path | None:
    if os.environ.get("GATEWAY_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


@pytest.fixture
async def gateway(tmp_path: Path, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(
        Settings(),
        data={"dir": str(tmp_path / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        outbound={"smtp": f"maildir:{tmp_path / 'outbox'}", "sender": "support@example.net"},
        staff={"mailbox": "staff@example.net"},
        smtp={"port": 0},
        metrics={"port": 0},
        panel={"api_key": PANEL_KEY, "demo": True},
    )
    async with live_gateway(settings, clock) as live:
        async with live.core.sessions.begin() as session:
            await seed_demo(session, live.core)
        yield live


@pytest.fixture
async def browse(
    browser: Any,  # noqa: F811
    gateway: LiveGateway,
) -> AsyncIterator[Callable[..., Awaitable[Visitor]]]:
    """Pages in one browser (one cookie jar); closed before the gateway stops."""
    context = await browser.new_context(viewport=VIEWPORT, reduced_motion="reduce")

    async def open_page(path: str, fake_clock: bool = False) -> Visitor:
        page = await context.new_page()
        await page.add_init_script(WATCH)
        if fake_clock:
            await page.clock.install()
        visitor = Visitor(page)
        await page.goto(gateway.url + path)
        return visitor

    yield open_page
    await context.close()


async def ask_in_the_widget(visitor: Visitor, text: str) -> str:
    await visitor.widget(".launcher").click()
    await visitor.widget(".msg--notice").wait_for()
    await visitor.say(text)
    await visitor.widget(".state[data-stage=authenticate]").wait_for()
    await visitor.widget(".approval").wait_for()
    return str(await visitor.widget(".approval-number").text_content())


async def test_the_number_in_the_chat_approved_in_the_demo_panel_verifies_it_live(
    browse: Callable[..., Awaitable[Visitor]],
) -> None:
    chat = await browse("/?lang=en")
    number = await ask_in_the_widget(chat, TRANSFER)
    assert re.fullmatch(r"[0-9]{2}", number)
    line = str(await chat.widget(".approval").text_content())
    assert line.startswith(f"Or approve it in your Client Panel: {number} valid for ")
    assert re.search(r"valid for [45]:[0-5][0-9]$", line)
    # The masked code form is still there: either path verifies.
    assert await chat.widget("#code").is_visible()
    first = await chat.widget(".approval-left").text_content()
    await chat.page.wait_for_timeout(1100)
    assert await chat.widget(".approval-left").text_content() != first  # it counts down
    if path := screenshot("chat-approval-number.png"):
        await chat.page.screenshot(path=str(path))

    panel = await browse("/demo/panel")
    card = panel.page.locator("article.approval")
    await card.wait_for()  # it appears without a reload: the list refreshes by itself
    assert "demo.example" in str(await card.locator(".description").text_content())
    assert await card.locator(".request-text").text_content() == TRANSFER
    ticket = await chat.widget(".ticket").text_content()
    assert ticket and ticket.removeprefix("Ticket ") in str(await card.text_content())
    assert number not in str(await card.locator("dl").text_content())  # never listed

    await card.locator(".number").fill(other_number(number))
    await card.locator(".approve").click()
    await card.locator(".result--error").wait_for()
    assert "Attempts left: 2" in str(await card.locator(".result").text_content())
    await card.locator(".number").fill(number)
    if path := screenshot("demo-panel.png"):
        await panel.page.screenshot(path=str(path))
    await card.locator(".approve").click()
    await panel.page.locator(".notice--ok").wait_for()
    assert "Approved" in str(await panel.page.locator(".notice").text_content())
    await card.wait_for(state="detached")
    assert await panel.page.locator("#empty").is_visible()

    await chat.widget(".state[data-stage=verified]").wait_for()
    assert await chat.widget(".approval").is_hidden()
    assert await chat.widget(".verify").is_hidden()
    await chat.widget(".msg--bot").filter(has_text="verified").wait_for()
    if path := screenshot("chat-verified.png"):
        await chat.page.screenshot(path=str(path))
    assert await chat.problems() == []
    assert await panel.problems() == []


async def test_in_polish_markup_is_text_and_the_number_goes_when_its_time_is_up(
    browse: Callable[..., Awaitable[Visitor]],
) -> None:
    chat = await browse("/", fake_clock=True)
    text = f"Chcę przenieść domenę example.pl do innego rejestratora {MARKUP}"
    number = await ask_in_the_widget(chat, text)
    line = str(await chat.widget(".approval").text_content())
    assert line.startswith(f"Albo zatwierdź je w Panelu Klienta: {number} ważny jeszcze ")

    panel = await browse("/demo/panel?login=jan.kowalski")
    card = panel.page.locator("article.approval")
    await card.wait_for()
    assert MARKUP in str(await card.locator(".request-text").text_content())
    assert await panel.page.locator("img").count() == 0
    assert await chat.widget("img").count() == 0

    # Five minutes on in the page only: the socket may drop for want of pings and resume, and
    # the server (whose clock stays) sends the number again; the widget's countdown is over.
    await chat.page.clock.fast_forward("05:01")
    await chat.widget(".state[data-stage=authenticate]").wait_for()
    await chat.widget(".approval").wait_for(state="hidden")
    assert await chat.widget("#code").is_visible()  # the code still works after the number
    assert await chat.problems() == []
    assert await panel.problems() == []
