"""The application factory: everything the process runs is opened and closed here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from chat.server import CHAT_NAMESPACE, SOCKETIO, attach_socketio, stop_socketio
from chat.staff_namespace import STAFF_NAMESPACE, attach_staff_namespace
from chat.widget import register_widget
from gateway import housekeeping
from gateway.audit.chain import ensure_checkpoint
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.core import open_core
from gateway.lifecycle import stop_task, wind_down
from gateway.memory import garbage_context
from gateway.outbox.transports import mail_transport
from gateway.outbox.webhook import WebhookSender
from gateway.outbox.worker import OutboxWorker
from gateway.pipeline.peer_status import PeerStatus
from gateway.process import draining
from gateway.process.keys import CLOCK, CORE, SETTINGS
from gateway.staff.console import register_console
from gateway.storage.engine import writer_turn
from gateway.storage.redis_client import redis_client
from gateway.web import demo_panel, health, metrics, not_me, panel_api, panel_approvals
from mail.server import mail_context

TURN_GRACE_SECONDS = 1.5
OUTBOX_GRACE_SECONDS = 2.0
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    draining.prepare(app)
    app.cleanup_ctx.append(core_context)
    app.cleanup_ctx.append(metrics.metrics_context)
    app.cleanup_ctx.append(peers_context)
    app.cleanup_ctx.append(outbox_context)
    app.cleanup_ctx.append(chat_context)
    app.cleanup_ctx.append(garbage_context)
    app.cleanup_ctx.append(mail_context)
    app.cleanup_ctx.append(housekeeping_context)
    attach_socketio(app, settings, lambda: app[CORE].pipeline)
    attach_staff_namespace(app[SOCKETIO], app)
    app.on_shutdown.append(settle_turns)
    register_console(app)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_post("/api/panel/codes", panel_api.create_panel_code)
    app.router.add_get("/api/panel/approvals", panel_approvals.list_approvals)
    app.router.add_post("/api/panel/approvals/{id}", panel_approvals.decide_approval)
    not_me.register_not_me(app)
    if settings.panel.demo:  # the demo Client Panel, `gateway demo` only
        demo_panel.register_demo_panel(app)
    register_widget(app)
    return app


async def core_context(app: web.Application) -> AsyncIterator[None]:
    async with open_core(app[SETTINGS], app[CLOCK]) as core:
        async with core.sessions.begin() as session:
            await ensure_checkpoint(session, core.keys)
        app[CORE] = core
        yield


async def peers_context(app: web.Application) -> AsyncIterator[None]:
    """With Redis (several nodes): tell each other of stage changes; /readyz checks it too."""
    settings = app[SETTINGS].redis
    if not settings.url:
        yield
        return
    redis = redis_client(settings.url)
    pipeline = app[CORE].pipeline
    peers = PeerStatus(redis, settings.prefix, pipeline.states)
    pipeline.events.subscribe(peers)
    app[health.REDIS] = redis
    task = asyncio.create_task(peers.run(), name="peer-status")
    yield
    await stop_task(task)
    await redis.aclose()


async def settle_turns(app: web.Application) -> None:
    """After the chat connections are cut (chat.server.drop_connections): let the turns they
    started commit, so a client resuming on another node finds them in its transcript."""
    await app[CORE].pipeline.turns.settled(TURN_GRACE_SECONDS)


async def chat_context(app: web.Application) -> AsyncIterator[None]:
    app[CORE].pipeline.events.subscribe(app[CHAT_NAMESPACE])
    app[CORE].pipeline.events.subscribe(app[STAFF_NAMESPACE])
    yield
    await stop_socketio(app[SOCKETIO])


async def housekeeping_context(app: web.Application) -> AsyncIterator[None]:
    stopping = asyncio.Event()
    task = asyncio.create_task(housekeeping.run(app[CORE], stopping), name="housekeeping")
    yield
    await wind_down(task, stopping, OUTBOX_GRACE_SECONDS)


async def outbox_context(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings
    async with aiohttp.ClientSession() as client:
        panel = settings.panel
        panel_secret = {panel.webhook_url: panel.webhook_secret} if panel.webhook_url else {}
        webhook = WebhookSender(client, settings.staff.webhook_secret, panel_secret)
        worker = OutboxWorker(
            core.sessions,
            core.outbox,
            core.clock,
            mail_transport(settings.outbound.smtp),
            webhook,
            writer_turn(core.engine, background=True),
            metrics=core.metrics,
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(worker.run(stopping), name="outbox-worker")
        yield
        await wind_down(task, stopping, OUTBOX_GRACE_SECONDS)
