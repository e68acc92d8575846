"""Running the gateway: `serve`, `demo`, `db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from aiohttp import web

from gateway.audit.chain import ensure_checkpoint
from gateway.cli.demo import DEMO_STAFF_MAILBOX, DemoLogins, seed_demo
from gateway.config import Settings, replace
from gateway.core import open_core
from gateway.logs import configure_logging
from gateway.memory import tune_garbage_collector
from gateway.outbox.transports import mail_transport
from gateway.process.draining import begin_draining
from gateway.storage.schema import upgrade
from gateway.web.app import create_app

DRAIN_NOTICE_SECONDS = 0.5  # long enough for a load balancer polling /readyz to notice
HTTP_GRACE_SECONDS = 2.5  # in-flight HTTP requests (staff actions, panel API)
log = logging.getLogger(__name__)


def register(commands: Any) -> None:
    commands.add_parser("serve", help="run HTTP and SMTP").set_defaults(handler=serve)
    commands.add_parser("demo", help="serve with seeded demo data").set_defaults(handler=demo)
    db = commands.add_parser("db", help="the database schema")
    sub = db.add_subparsers(dest="db_command", required=True)
    sub.add_parser("upgrade", help="create or migrate the schema").set_defaults(handler=db_upgrade)


async def migrate(settings: Settings) -> None:
    async with open_core(settings, check_schema=False) as core:
        await upgrade(core.engine)
        async with core.sessions.begin() as session:
            await ensure_checkpoint(session, core.keys)


async def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    await migrate(settings)
    print("database schema is up to date")
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    mail_transport(settings.outbound.smtp)  # a bad setting is a config error before we listen
    asyncio.run(_check_schema(settings))
    run(settings)
    return 0


async def _check_schema(settings: Settings) -> None:
    async with open_core(settings):
        pass


def run(settings: Settings, banner: str = "") -> None:
    """Serve until SIGINT or SIGTERM, then drain (see `serve_until_stopped`)."""
    tune_garbage_collector()
    # JSON lines on stderr; aiosmtpd's "mail.log" (senders and recipients at INFO), the access
    # log and alembic stay quiet (gateway.logs.QUIETER).
    configure_logging(settings)
    banner = banner or f"gateway listening on http://{settings.http.host}:{settings.http.port}/"
    asyncio.run(serve_until_stopped(settings, banner))


async def serve_until_stopped(settings: Settings, banner: str) -> None:
    """The stop, within 10 s of the signal: /readyz says 503 and SMTP stops accepting at once;
    after DRAIN_NOTICE_SECONDS HTTP stops accepting, chat connections are cut (browsers
    reconnect through the load balancer and resume elsewhere), turns and requests under way
    finish, the mail batch and outbox pass under way commit, and the database closes."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_GRACE_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        print(banner, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping: draining")
        begin_draining(app)
        await asyncio.sleep(DRAIN_NOTICE_SECONDS)
    finally:
        await runner.cleanup()
    log.info("stopped")


def demo(args: argparse.Namespace, settings: Settings) -> int:
    logins: DemoLogins = asyncio.run(_prepare_demo(settings))
    if not settings.panel.api_key:
        settings = replace(settings, panel={"api_key": logins.panel_api_key})
    # The demo Client Panel (/demo/panel): a newcomer approves their own request in a browser.
    settings = replace(settings, panel={"demo": True})
    if not settings.staff.mailbox:  # so a newcomer sees what staff receive, in var/outbox/
        settings = replace(settings, staff={"mailbox": DEMO_STAFF_MAILBOX})
    run(settings, banner=logins.banner(settings))
    return 0


async def _prepare_demo(settings: Settings) -> DemoLogins:
    await migrate(settings)
    async with open_core(settings) as core, core.sessions.begin() as session:
        return await seed_demo(session, core)
