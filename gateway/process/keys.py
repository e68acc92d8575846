"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from aiohttp import web

from gateway.clock import Clock
from gateway.config import Settings
from gateway.core import Core

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
CORE = web.AppKey("core", Core)
