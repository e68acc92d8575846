"""The widget in headless Chromium on the demo page, under the page's strict CSP: what a visitor
sees and does, end to end against the real gateway. SQLite only, to keep CI fast."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from gateway.pipeline.model import CloseConversation
from gateway.staff.desk import StaffDesk
from gateway.storage.models import TranscriptMessage
from tests.browser import browser  # noqa: F401
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET, seed_clients
from tests.live import LiveGateway, live_gateway

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "widget.png"
WIDGET = "[data-support-gateway]"
# Collected in the page before any of its scripts run (Playwright's init scripts skip the CSP).
WATCH = """
window.__before = Object.getOwnPropertyNames(window);
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""
# What a careless host page might carry; none of it may reach into the widget.
HOSTILE_CSS = """() => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`* { color: red !important; font-size: 40px !important; }
    button, p, section { display: none !important; visibility: hidden !important; }`);
  document.adoptedStyleSheets = [sheet];
}"""
TRANSFER_PL = "Chcę przenieść domenę example.pl do innego rejestratora"


@pytest.fixture
def widget_settings(tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        data={"dir": str(tmp_path / "var")},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        outbound={"smtp": f"maildir:{tmp_path / 'outbox'}", "sender": "support@example.net"},
        smtp={"port": 0},
        metrics={"port": 0},
        chat={"max_message_length": 300},
    )


@pytest.fixture
async def gateway(widget_settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    async with live_gateway(widget_settings, clock) as live:
        await seed_clients(live.core)
        yield live


class Visitor:
    """One browser page on the demo site, recording what must never happen there."""

    def __init__(self, page: Any) -> None:
        self.page = page
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

    def widget(self, selector: str) -> Any:
        return self.page.locator(f"{WIDGET} {selector}")

    async def open(self) -> None:
        await self.widget(".launcher").click()
        await self.widget(".panel").wait_for(state="visible")

    async def say(self, text: str) -> None:
        await self.widget("#text").fill(text)
        await self.widget("#text").press("Enter")

    async def messages(self, author: str | None = None) -> list[str]:
        selector = f".msg--{author} .text" if author else ".msg .text"
        return [str(t) for t in await self.widget(selector).all_text_contents()]

    async def widget_text(self) -> str:
        return str(
            await self.page.evaluate(
                "s => document.querySelector(s).shadowRoot.textContent", WIDGET
            )
        )

    async def problems(self) -> list[str]:
        violations = await self.page.evaluate("window.__violations")
        refused = [m for m in self.console_errors if "Content Security Policy" in m]
        return [*violations, *refused, *(f"dialog: {d}" for d in self.dialogs)]


@pytest.fixture
async def visit(
    browser: Any,  # noqa: F811
    gateway: LiveGateway,
) -> AsyncIterator[Callable[..., Awaitable[Visitor]]]:
    """Opens demo pages; closes them before the gateway stops, or their sockets would keep
    reconnecting into its shutdown."""
    contexts: list[Any] = []

    async def open_page(path: str = "/", **options: Any) -> Visitor:
        context = await browser.new_context(**options)
        contexts.append(context)
        page = await context.new_page()
        await page.add_init_script(WATCH)
        visitor = Visitor(page)
        await page.goto(gateway.url + path)
        await visitor.widget(".launcher").wait_for()
        return visitor

    yield open_page
    for context in contexts:
        await context.close()


async def transcript(gateway: LiveGateway) -> list[str]:
    async with gateway.core.sessions() as session:
        return list(await session.scalars(select(TranscriptMessage.text)))


async def test_a_transfer_is_verified_in_the_masked_form_and_survives_a_reload(
    visit: Callable[..., Awaitable[Visitor]],
    gateway: LiveGateway,
    clock: MovableClock,
) -> None:
    visitor = await visit(viewport={"width": 1280, "height": 800})
    await visitor.open()
    notice = visitor.widget(".msg--notice .text")
    await notice.wait_for()
    assert "nagrywana" in await notice.text_content()

    await visitor.say(TRANSFER_PL)
    await visitor.widget(".state[data-stage=authenticate]").wait_for()
    assert "Weryfikacja" in await visitor.widget(".stage").text_content()
    ticket = await visitor.widget(".ticket").text_content()
    assert ticket and ticket.startswith("Zgłoszenie T-")

    code = totp_for(JAN_SECRET).at(clock.now())
    assert await visitor.widget("#code").get_attribute("type") == "password"
    assert await visitor.widget("#code").get_attribute("autocomplete") == "one-time-code"
    await visitor.widget("#login").fill("jan.kowalski")
    await visitor.widget("#code").fill(code)
    await visitor.widget(".verify .primary").click()
    await visitor.widget(".state[data-stage=verified]").wait_for()
    await visitor.widget(".form-note--ok").wait_for(state="attached")
    assert await visitor.widget("#code").input_value() == ""
    assert await visitor.widget(".verify").is_hidden()

    desk = StaffDesk.of(gateway.core)
    conversation = await visitor.page.evaluate(
        "Object.values(sessionStorage).map(JSON.parse)[0].conversation"
    )
    await desk.reply("staff", conversation, "Dzień dobry, zajmę się transferem example.pl.")
    staff = visitor.widget(".msg--staff")
    await staff.wait_for()
    assert "Konsultant" in await staff.locator(".who").text_content()

    if os.environ.get("GATEWAY_SCREENSHOTS") == "1":
        await visitor.page.mouse.move(0, 0)
        await visitor.page.screenshot(path=str(SCREENSHOT))

    assert code not in await visitor.widget_text()
    assert not any(code in text for text in await transcript(gateway))
    before = await visitor.messages()

    await visitor.page.reload()
    await visitor.widget(".panel").wait_for(state="visible")  # it stays open across a reload
    await visitor.widget(".state[data-stage=verified]").wait_for()
    await staff.wait_for()
    assert await visitor.widget(".ticket").text_content() == ticket
    assert await visitor.messages() == before
    assert (await visitor.messages("client")).count(TRANSFER_PL) == 1
    assert code not in await visitor.widget_text()
    assert await visitor.problems() == []


async def test_markup_from_anyone_is_shown_as_text_and_nothing_leaks_into_the_page(
    visit: Callable[..., Awaitable[Visitor]],
) -> None:
    visitor = await visit("/?lang=en")
    await visitor.page.evaluate(HOSTILE_CSS)
    await visitor.open()
    notice = visitor.widget(".msg--notice .text")
    await notice.wait_for()
    looks = "e => [getComputedStyle(e).color, getComputedStyle(e).fontSize]"
    assert await notice.evaluate(looks) == ["rgb(120, 53, 15)", "13.5px"]
    attack = "<img src=x onerror=alert(1)>"
    await visitor.say(attack)
    sent = visitor.widget(".msg--client .text")
    await sent.wait_for()
    await visitor.widget(".msg--client .note").wait_for(state="detached")  # acknowledged
    await visitor.widget(".msg--bot").nth(1).wait_for()
    assert await sent.text_content() == attack
    assert await visitor.widget("img").count() == 0

    await visitor.say("x" * 301)
    refused = visitor.widget(".msg--client .note--error")
    await refused.wait_for()
    assert "too long" in await refused.text_content()
    assert await visitor.widget("#text").input_value() == "x" * 301  # given back to edit

    # Nothing defined on the host page: socket.io's UMD is kept inside the bundle's function.
    added = await visitor.page.evaluate(
        "Object.getOwnPropertyNames(window).filter(n => !window.__before.includes(n))"
    )
    assert [name for name in added if name not in ("__before", "__violations")] == []
    assert await visitor.page.evaluate("typeof window.io") == "undefined"
    assert await visitor.problems() == []


async def test_keyboard_mobile_and_a_refused_resume_token(
    visit: Callable[..., Awaitable[Visitor]],
) -> None:
    # Reduced motion: no opening animation, so the panel's box is final at once.
    phone = {"viewport": {"width": 375, "height": 700}, "reduced_motion": "reduce"}
    visitor = await visit("/?lang=en", **phone)
    launcher = visitor.widget(".launcher")
    for _ in range(10):  # tab through the page until the launcher has the focus
        await visitor.page.keyboard.press("Tab")
        if await launcher.evaluate("e => e.getRootNode().activeElement === e"):
            break
    await visitor.page.keyboard.press("Enter")
    await visitor.widget(".msg--notice").wait_for()
    assert await visitor.widget("#text").evaluate("e => e.getRootNode().activeElement === e")
    box = await visitor.widget(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 700}  # full screen on a phone
    await visitor.page.keyboard.press("Escape")
    await visitor.widget(".panel").wait_for(state="hidden")
    assert await launcher.get_attribute("aria-expanded") == "false"
    assert await launcher.evaluate("e => e.getRootNode().activeElement === e")  # focus returns

    # A stale or forged token is refused by the server: the widget starts a new conversation.
    first = await visitor.page.evaluate("Object.values(sessionStorage).map(JSON.parse)[0]")
    await visitor.page.evaluate(
        """() => {
          const key = Object.keys(sessionStorage)[0];
          const kept = JSON.parse(sessionStorage.getItem(key));
          sessionStorage.setItem(key, JSON.stringify({...kept, token: "forged", open: true}));
        }"""
    )
    await visitor.page.reload()
    await visitor.widget(".msg--notice").wait_for()
    await visitor.widget(".state[data-stage=open]").wait_for()
    again = await visitor.page.evaluate("Object.values(sessionStorage).map(JSON.parse)[0]")
    assert again["conversation"] != first["conversation"]
    assert again["token"] not in ("forged", first["token"])
    assert await visitor.widget(".msg").count() == 1
    assert await visitor.problems() == []


async def test_a_line_typed_while_the_first_connection_is_made_is_sent_when_it_is(
    visit: Callable[..., Awaitable[Visitor]],
) -> None:
    """A visitor types at once; the socket is still connecting (a slow network): the line waits
    for the connection instead of failing as if the network had dropped."""
    visitor = await visit()
    release = asyncio.Event()

    async def slow_network(socket: Any) -> None:
        await release.wait()
        socket.connect_to_server()

    await visitor.page.route_web_socket(re.compile(r".*/socket\.io/.*"), slow_network)
    await visitor.page.route(re.compile(r".*/socket\.io/.*transport=polling.*"), _abort)
    await visitor.page.reload()  # the page's WebSocket is routed from its next load on
    await visitor.open()
    await visitor.say("Jakie są godziny pracy?")
    await visitor.widget(".msg--client .note").wait_for()  # "sending…", not an error
    assert "note--error" not in str(
        await visitor.widget(".msg--client .note").get_attribute("class")
    )
    release.set()
    await visitor.widget(".msg--bot").nth(1).wait_for()
    await visitor.widget(".msg--client .note").wait_for(state="detached")
    assert len(await visitor.messages("client")) == 1


async def _abort(route: Any) -> None:
    await route.abort()


async def test_a_dropped_connection_resumes_without_duplicates_and_closed_means_closed(
    visit: Callable[..., Awaitable[Visitor]], gateway: LiveGateway
) -> None:
    visitor = await visit()
    await visitor.open()
    await visitor.say("Jakie są godziny pracy?")
    await visitor.widget(".msg--bot").nth(1).wait_for()
    await visitor.widget(".msg--client .note").wait_for(state="detached")
    before = await visitor.messages()

    await visitor.widget(".state").evaluate(
        """state => {
          window.__stages = [];
          new MutationObserver(() => window.__stages.push(state.dataset.stage))
            .observe(state, { attributes: true, attributeFilter: ["data-stage"] });
        }"""
    )
    await visitor.page.context.set_offline(True)  # the network drops, then comes back
    await visitor.page.wait_for_function("() => window.__stages.includes('offline')")
    assert await visitor.widget(".stage").text_content() == "Brak połączenia — ponawiam…"
    await visitor.page.context.set_offline(False)
    await visitor.page.wait_for_function("() => window.__stages.at(-1) === 'open'")
    await visitor.page.wait_for_timeout(300)  # room for a re-sent duplicate to show, if any
    assert await visitor.messages() == before

    conversation = await visitor.page.evaluate(
        "Object.values(sessionStorage).map(JSON.parse)[0].conversation"
    )
    await gateway.core.pipeline.handle(CloseConversation("staff", conversation))
    await visitor.widget(".state[data-stage=closed]").wait_for()
    assert await visitor.widget(".stage").text_content() == "Rozmowa zakończona"
    assert await visitor.widget("#text").is_disabled()
    await visitor.widget(".ended .primary").click()  # "Nowa rozmowa"
    await visitor.widget(".state[data-stage=open]").wait_for()
    assert await visitor.widget("#text").is_enabled()
    await visitor.widget(".msg--notice").wait_for()
    assert len(await visitor.messages()) == 1  # a new conversation: only its notice
    assert await visitor.problems() == []
