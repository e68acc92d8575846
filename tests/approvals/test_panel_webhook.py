"""`panel.webhook_url`: every challenge opened is POSTed to the Client Panel, signed with the
panel's own secret (not the staff webhook's), so it can notify the client's device. The number
is never in it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from gateway.config import Settings, replace
from tests.chat.conftest import PANEL_KEY
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import ChatClient, LiveGateway, live_gateway
from tests.smtp_sink import free_port

PANEL_SECRET = "panel-webhook-secret-0123456789"
STAFF_SECRET = "staff-webhook-secret-9876543210"


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/panel", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def _receive(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def panel_side(
    settings: Settings, clock: MovableClock
) -> AsyncIterator[tuple[LiveGateway, Receiver]]:
    receiver = await Receiver().start()
    settings = replace(
        settings,
        panel={
            "api_key": PANEL_KEY,
            "webhook_url": f"http://127.0.0.1:{receiver.port}/panel",
            "webhook_secret": PANEL_SECRET,
        },
        staff={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": STAFF_SECRET},
    )
    try:
        async with live_gateway(settings, clock) as live:
            await seed_clients(live.core)
            yield live, receiver
    finally:
        await receiver.stop()


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["X-Gateway-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["sha256"])


async def test_a_challenge_opened_is_pushed_to_the_panel_signed_without_the_number(
    panel_side: tuple[LiveGateway, Receiver],
) -> None:
    gateway, receiver = panel_side
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say("Please transfer example.pl to another registrar")
        await visitor.wait_for(lambda: "approval" in visitor.status)
        number = visitor.status["approval"]["number"]
        for _ in range(200):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
    finally:
        await visitor.close()
    [(headers, body)] = receiver.received
    assert signed_by(PANEL_SECRET, headers, body) and not signed_by(STAFF_SECRET, headers, body)
    pushed: dict[str, Any] = json.loads(body)
    assert pushed["event"] == "approval.opened" and pushed["login"] == "jan.kowalski"
    assert pushed["ticket"] == visitor.status["ticket"] and pushed["id"]
    assert "number" not in pushed
    assert number not in json.dumps(
        {k: v for k, v in pushed.items() if k not in ("id", "expires_at", "ticket")}
    )


async def test_no_push_for_a_service_nobody_holds(
    panel_side: tuple[LiveGateway, Receiver],
) -> None:
    gateway, receiver = panel_side
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say("Please transfer nobody-holds-this.pl to another registrar")
        await visitor.wait_for(lambda: "approval" in visitor.status)
        await asyncio.sleep(1.5)
    finally:
        await visitor.close()
    assert receiver.received == []
