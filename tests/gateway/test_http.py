"""The HTTP app from the production factory: health, metrics, and the panel API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from gateway.cli.operate import migrate
from gateway.config import Settings, replace
from gateway.core import Core
from gateway.pipeline.model import Stage
from gateway.process.keys import CORE
from gateway.web.app import create_app
from gateway.web.metrics import METRICS_PORT
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.gateway.memory_channel import MemoryChat
from tests.services import POSTGRES_URL, admin

API_KEY = "panel-test-key-0123456789"


@pytest.fixture
async def http(settings: Settings, clock: MovableClock) -> AsyncIterator[TestClient]:
    settings = replace(settings, panel={"api_key": API_KEY})
    await migrate(settings)
    async with TestClient(TestServer(create_app(settings, clock))) as client:
        await seed_clients(client.app[CORE])
        yield client


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_health_and_security_headers(http: TestClient) -> None:
    response = await http.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_health_is_503_when_the_database_is_gone(http: TestClient) -> None:
    core: Core = http.app[CORE]
    url = make_url(core.settings.database.url)
    await core.engine.dispose()
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        database.unlink()
        database.mkdir()  # a directory where the file was: SQLite cannot open it
    else:
        await admin(POSTGRES_URL, f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
    try:
        response = await http.get("/healthz")
        assert response.status == 503
        assert (await response.json())["status"] == "unavailable"
    finally:
        if url.get_backend_name() != "sqlite":
            await admin(POSTGRES_URL, f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')


async def test_panel_api_issues_a_code_that_verifies_once(http: TestClient) -> None:
    response = await http.post("/api/panel/codes", json={"login": "jan.kowalski"}, headers=auth())
    assert response.status == 201
    body = await response.json()
    assert len(body["code"]) == 8 and body["code"].isdigit()
    expires = datetime.fromisoformat(body["expires_at"])
    assert 14 * 60 < (expires - http.app[CORE].clock.now()).total_seconds() <= 15 * 60
    assert response.headers["Cache-Control"] == "no-store"

    core: Core = http.app[CORE]
    first = await MemoryChat(core.pipeline).open()
    await first.say("please change the nameservers of example.pl")
    assert (await first.form("jan.kowalski", body["code"])).verified is True
    second = await MemoryChat(core.pipeline).open()
    await second.say("please change the nameservers of example.pl")
    assert (await second.form("jan.kowalski", body["code"])).verified is False


async def test_panel_api_binds_a_code_to_its_ticket(http: TestClient) -> None:
    core: Core = http.app[CORE]
    one, two = await MemoryChat(core.pipeline).open(), await MemoryChat(core.pipeline).open()
    await one.say("transfer example.pl")
    await two.say("delete vps-1234")
    assert one.status and two.status and one.status.ticket and two.status.ticket
    response = await http.post(
        "/api/panel/codes",
        json={"login": "jan.kowalski", "ticket": one.status.ticket},
        headers=auth(),
    )
    code = (await response.json())["code"]
    assert (await two.form("jan.kowalski", code)).verified is False
    assert (await one.form("jan.kowalski", code)).verified is True


async def test_panel_api_lockout_refuses_a_right_code(http: TestClient) -> None:
    core: Core = http.app[CORE]
    client = await MemoryChat(core.pipeline).open()
    await client.say("change the owner of example.pl")
    for wrong in range(4):
        await client.form("jan.kowalski", f"{wrong:08d}")
    other = await MemoryChat(core.pipeline).open()
    await other.say("change the owner of example.pl")
    await other.form("jan.kowalski", "99999999")  # fifth failure for the account: locked
    response = await http.post("/api/panel/codes", json={"login": "jan.kowalski"}, headers=auth())
    right = (await response.json())["code"]
    assert (await client.form("jan.kowalski", right)).verified is False
    assert client.stage is Stage.LOCKED


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"login": "jan.kowalski"}, 401),
        (auth("wrong-key"), {"login": "jan.kowalski"}, 401),
        (auth(), {"login": "nobody"}, 404),
        (auth(), {"login": "jan.kowalski", "ticket": "T-NOPE00"}, 404),
        (auth(), {"login": "jan.kowalski", "ticket": "bogus"}, 400),
        (auth(), {"login": "jan kowalski"}, 400),
        (auth(), {"login": "jan.kowalski", "extra": 1}, 400),
        (auth(), ["jan.kowalski"], 400),
    ],
)
async def test_panel_api_refusals(
    http: TestClient, headers: dict[str, str], body: object, status: int
) -> None:
    response = await http.post("/api/panel/codes", json=body, headers=headers)
    assert response.status == status
    assert "error" in await response.json()


async def test_panel_api_is_off_without_a_key(settings: Settings, clock: MovableClock) -> None:
    await migrate(settings)
    async with TestClient(TestServer(create_app(settings, clock))) as client:
        response = await client.post("/api/panel/codes", json={"login": "x"}, headers=auth(""))
        assert response.status == 404


async def test_metrics_count_verifications_and_outbox_depth(http: TestClient) -> None:
    core: Core = http.app[CORE]
    client = await MemoryChat(core.pipeline).open()
    await client.say("transfer example.pl")
    await client.form("jan.kowalski", "000000")
    assert (await http.get("/metrics")).status == 404  # never on the public port
    scraped = await http.session.get(f"http://127.0.0.1:{http.app[METRICS_PORT]}/metrics")
    text = await scraped.text()
    assert (
        'gateway_verifications_total{channel="chat",reason="wrong_code",result="rejected"} 1.0'
        in text
    )
    assert 'gateway_requests_total{channel="chat",intent="domain_transfer"} 1.0' in text
    assert "gateway_outbox_depth" in text
