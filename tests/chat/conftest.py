"""A live gateway for the chat tests, with every staff path configured, and what reached it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from gateway.config import Settings, replace
from gateway.storage.models import OutboxItem
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import LiveGateway, live_gateway

PANEL_KEY = "panel-key-for-the-chat-tests-0123"


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(
        settings,
        panel={"api_key": PANEL_KEY},
        chat={
            "allowed_origins": ["https://shop.example"],
            "max_message_length": 500,
            "rate_limit": "20/10s",
        },
        staff={
            "mailbox": "staff@example.net",
            "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_secret": "s",
        },
    )
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


async def staff_deliveries(gateway: LiveGateway) -> list[OutboxItem]:
    """What went to the staff mailbox or the webhook (not the clients' own notices)."""
    async with gateway.core.sessions() as session:
        items = (await session.scalars(select(OutboxItem))).all()
    return [i for i in items if "staff@example.net" in i.destination or i.kind == "webhook"]
