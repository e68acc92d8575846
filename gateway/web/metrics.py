"""Prometheus scrape endpoint. It answers from memory: the outbox gauges are kept by the outbox
worker, so a scrape never waits for the database (which, on SQLite, may be busy draining a
backlog exactly when someone looks)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.web.keys import CORE


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[CORE].metrics.render())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
