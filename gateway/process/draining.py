"""The first second of a shutdown: say "not ready" and stop taking new work, while what is
under way goes on. A load balancer polling /readyz sends new clients elsewhere; the SMTP
listener stops accepting, so senders' MTAs try the next node or retry later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

DRAINING: web.AppKey[asyncio.Event] = web.AppKey("draining")
STOP_ACCEPTING: web.AppKey[list[Callable[[], None]]] = web.AppKey("stop_accepting")


def prepare(app: web.Application) -> None:
    app[DRAINING] = asyncio.Event()
    app[STOP_ACCEPTING] = []


def begin_draining(app: web.Application) -> None:
    app[DRAINING].set()
    for stop in app[STOP_ACCEPTING]:
        stop()


def is_draining(app: web.Application) -> bool:
    return app[DRAINING].is_set()
