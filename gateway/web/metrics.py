"""Prometheus scrape endpoint; the outbox gauges are refreshed from the database per scrape."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.outbox.worker import outbox_depth
from gateway.web.keys import CORE


async def metrics(request: web.Request) -> web.Response:
    core = request.app[CORE]
    async with core.sessions() as session:
        depth, age = await outbox_depth(session, core.clock.now())
    core.metrics.outbox_depth.set(depth)
    core.metrics.outbox_oldest_age.set(age)
    response = web.Response(body=core.metrics.render())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
