"""Liveness for load balancers: healthy only while the database answers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text

from gateway.web.keys import CORE

log = logging.getLogger(__name__)
DATABASE_TIMEOUT_SECONDS = 3.0


async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), core.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok"})
