"""Liveness and readiness for load balancers and supervisors.

`/healthz` (liveness): the process works and its database answers; restart it if not.
`/readyz` (readiness): also send it new clients: not shutting down, and the database and Redis
(when nodes share one) answer. During a drain /healthz stays 200 (nothing to restart) while
/readyz turns 503.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import text

from gateway.process.draining import is_draining
from gateway.process.keys import CORE

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0
REDIS: web.AppKey[Redis] = web.AppKey("redis")


async def healthz(request: web.Request) -> web.Response:
    if not await _database_answers(request.app):
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = {
        "draining": is_draining(app),
        "database": await _database_answers(app),
        "redis": await _redis_answers(app) if REDIS in app else None,
    }
    ready = not checks["draining"] and checks["database"] and checks["redis"] is not False
    body = {
        "status": "ready" if ready else "unavailable",
        "database": "ok" if checks["database"] else "down",
        "redis": {None: "not configured", True: "ok", False: "down"}[checks["redis"]],
    }
    if checks["draining"]:
        body["status"] = "draining"
    return web.json_response(body, status=200 if ready else 503)


async def _database_answers(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), app[CORE].sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        return False
    return True


async def _redis_answers(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await app[REDIS].ping()
    except Exception as exc:
        log.warning("readiness check: redis unavailable: %s", type(exc).__name__)
        return False
    return True
