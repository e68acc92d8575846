from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.config import Settings
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.live import LiveGateway, live_gateway
from tests.staff.console_http import StaffHttp, seed_staff


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


@pytest.fixture
async def staff_secret(gateway: LiveGateway) -> str:
    """The TOTP secret of staff user alice."""
    return await seed_staff(gateway.core)


@pytest.fixture
async def staff_http(gateway: LiveGateway) -> AsyncIterator[StaffHttp]:
    """A staff member's cookie jar, not logged in yet."""
    staff = StaffHttp.open(gateway.url)
    try:
        yield staff
    finally:
        await staff.close()
