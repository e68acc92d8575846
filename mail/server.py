"""The e-mail channel's part of the application: the SMTP listener and the spool processor,
opened and closed with the app (aiohttp cleanup context), on the gateway's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.web.keys import CORE
from mail.listener import start_listener
from mail.mailbox import SupportMailbox
from mail.processor import MailProcessor
from mail.spool import Spool

log = logging.getLogger(__name__)
SMTP_PORT = web.AppKey("smtp_port", int)
SPOOL = web.AppKey("spool", Spool)


async def mail_context(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings
    spool = await Spool.open(core.engine, settings.database.url, core.clock)
    mailbox = SupportMailbox(
        settings.smtp.addresses, spool, core.metrics, settings.smtp.proxy_protocol_from
    )
    server = await start_listener(settings.smtp, mailbox)
    app[SPOOL] = spool
    app[SMTP_PORT] = server.sockets[0].getsockname()[1]
    processor = None
    if settings.smtp.process_mail:
        processor = asyncio.create_task(
            MailProcessor(
                core.engine,
                core.sessions,
                core.pipeline,
                core.policies,
                core.client_mail,
                settings,
                core.clock,
                core.metrics,
                spool,
            ).run(),
            name="mail-processor",
        )
    yield
    # Stop taking new connections; a sender cut off before its 250 simply retries later.
    server.close()
    if processor is not None:
        processor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await processor
    await spool.close()
