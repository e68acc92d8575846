"""Prometheus scrape endpoint, on its own listener (`metrics.host`, `metrics.port`): the
public port never answers /metrics. It answers from memory: the outbox gauges are kept by the
outbox worker, so a scrape never waits for the database (which, on SQLite, may be busy
draining a backlog exactly when someone looks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.metrics import Metrics
from gateway.process.keys import CORE

METRICS_PORT = web.AppKey("metrics_port", int)


def metrics_app(metrics: Metrics) -> web.Application:
    async def scrape(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


async def metrics_context(app: web.Application) -> AsyncIterator[None]:
    """Serve /metrics beside the main app, for as long as it runs."""
    settings = app[CORE].settings.metrics
    runner = web.AppRunner(metrics_app(app[CORE].metrics), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    app[METRICS_PORT] = runner.addresses[0][1]  # the bound port, when port 0 was asked for
    yield
    await runner.cleanup()
