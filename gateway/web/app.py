"""The application factory: everything the process runs is opened and closed here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from chat.server import CHAT_NAMESPACE, SOCKETIO, attach_socketio
from chat.staff_namespace import STAFF_NAMESPACE, attach_staff_namespace
from chat.widget import register_widget
from gateway.audit.chain import ensure_checkpoint
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.core import open_core
from gateway.outbox.transports import mail_transport
from gateway.outbox.webhook import WebhookSender
from gateway.outbox.worker import OutboxWorker
from gateway.staff.console import register_console
from gateway.storage.engine import writer_turn
from gateway.web import health, metrics, panel_api
from gateway.web.keys import CLOCK, CORE, SETTINGS
from mail.server import mail_context

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
    app.cleanup_ctx.append(core_context)
    app.cleanup_ctx.append(outbox_context)
    app.cleanup_ctx.append(chat_context)
    app.cleanup_ctx.append(mail_context)
    attach_socketio(app, settings, lambda: app[CORE].pipeline)
    attach_staff_namespace(app[SOCKETIO], app)
    register_console(app)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", metrics.metrics)
    app.router.add_post("/api/panel/codes", panel_api.create_panel_code)
    register_widget(app)
    return app


async def core_context(app: web.Application) -> AsyncIterator[None]:
    async with open_core(app[SETTINGS], app[CLOCK]) as core:
        async with core.sessions.begin() as session:
            await ensure_checkpoint(session, core.keys)
        app[CORE] = core
        yield


async def chat_context(app: web.Application) -> AsyncIterator[None]:
    app[CORE].pipeline.events.subscribe(app[CHAT_NAMESPACE])
    app[CORE].pipeline.events.subscribe(app[STAFF_NAMESPACE])
    # Everything built so far lives as long as the process: keep it out of the cyclic garbage
    # collector's full passes, which otherwise stall every connection for tens of milliseconds.
    gc.freeze()
    yield
    # Connections were cut in on_shutdown (chat.server.drop_connections); stop engine.io's
    # background tasks, which would otherwise outlive the app.
    await app[SOCKETIO].shutdown()


async def outbox_context(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings
    async with aiohttp.ClientSession() as client:
        webhook = WebhookSender(client, settings.staff.webhook_secret)
        worker = OutboxWorker(
            core.sessions,
            core.outbox,
            core.clock,
            mail_transport(settings.outbound.smtp),
            webhook,
            writer_turn(core.engine),
        )
        task = asyncio.create_task(worker.run(), name="outbox-worker")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
