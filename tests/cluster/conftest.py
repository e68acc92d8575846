"""Two gateway nodes as separate processes on the machine's PostgreSQL and Redis, with a real
SMTP sink (staff mailbox and clients' mailboxes) and a webhook receiver on the test's loop."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest
from aiohttp import web

from tests.cluster.nodes import Node, cluster_nodes, cluster_settings, run_cli
from tests.cluster.nodes import postgres_database as postgres_database_on
from tests.gateway.conftest import CLIENTS
from tests.services import POSTGRES_URL
from tests.smtp_sink import SmtpSink, free_port

SUPPORT = "support@example.net"
STAFF_MAILBOX = "staff@example.net"
PANEL_KEY = "panel-key-" + "k" * 24
STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def postgres_database(services: None) -> Iterator[str]:
    with postgres_database_on(POSTGRES_URL) as url:
        yield url


@dataclass
class WebhookSink:
    """The helpdesk: records every delivery it is sent."""

    port: int = field(default_factory=free_port)
    deliveries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> WebhookSink:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def _receive(self, request: web.Request) -> web.Response:
        self.deliveries.append((request.headers["X-Gateway-Delivery"], await request.json()))
        return web.Response(status=204)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Cluster:
    nodes: list[Node]
    mail: SmtpSink
    webhook: WebhookSink
    staff_totp_secret: str

    @property
    def config(self) -> Path:
        return self.nodes[0].config

    async def start(self, *nodes: Node) -> None:
        for node in nodes or tuple(self.nodes):
            node.start()
        await asyncio.gather(*(asyncio.to_thread(n.wait_ready) for n in nodes or self.nodes))

    def mail_to(self, recipient: str) -> list[Any]:
        return [
            message
            for envelope, message in zip(self.mail.envelopes, self.mail.messages, strict=True)
            if recipient in envelope.rcpt_tos
        ]

    async def panel_code(self, node: Node, login: str, ticket: str | None = None) -> str:
        body = {"login": login, **({"ticket": ticket} if ticket else {})}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{node.url}/api/panel/codes",
                json=body,
                headers={"Authorization": f"Bearer {PANEL_KEY}"},
            ) as answer,
        ):
            assert answer.status == 201, await answer.text()
            return str((await answer.json())["code"])

    async def cli(self, *args: str) -> str:
        return await asyncio.to_thread(run_cli, self.config, *args)


@pytest.fixture
async def cluster(tmp_path: Path, postgres_database: str) -> AsyncIterator[Cluster]:
    mail = await SmtpSink().start()
    hook = await WebhookSink().start()
    shared = cluster_settings(
        postgres_database,
        # The burst comes from one sender: no intake limit (tests/mail/test_intake.py has it).
        smtp={"addresses": [SUPPORT], "hostname": "mx.example.net", "sender_rate": ""},
        outbound={"smtp": f"127.0.0.1:{mail.port}", "sender": SUPPORT},
        staff={
            "mailbox": STAFF_MAILBOX,
            "webhook_url": f"http://127.0.0.1:{hook.port}/hook",
            "webhook_secret": secrets.token_hex(16),
        },
        panel={"api_key": PANEL_KEY},
    )
    nodes = cluster_nodes(tmp_path, shared)
    nodes[0].write_config()
    run = nodes[0].config
    await asyncio.to_thread(run_cli, run, "db", "upgrade")
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(CLIENTS), encoding="utf-8")
    await asyncio.to_thread(run_cli, run, "accounts", "import", str(accounts))
    password = tmp_path / "password"
    password.write_text(STAFF_PASSWORD, encoding="utf-8")
    uri = await asyncio.to_thread(
        run_cli, run, "staff", "add", "alice", "--password-file", str(password)
    )
    secret = parse_qs(urlparse(uri.strip()).query)["secret"][0]
    cluster = Cluster(nodes, mail, hook, secret)
    try:
        await cluster.start()
        yield cluster
    finally:
        for node in nodes:
            node.kill()
        await hook.stop()
        await mail.stop()
