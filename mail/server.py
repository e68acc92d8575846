"""The e-mail channel's part of the application: the SMTP listener and the spool processor,
opened and closed with the app (aiohttp cleanup context), on the gateway's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.lifecycle import wind_down
from gateway.process.draining import STOP_ACCEPTING
from gateway.process.keys import CORE
from mail.intake import Intake
from mail.listener import start_listener
from mail.mailbox import SupportMailbox
from mail.processor import MailProcessor
from mail.spool import Spool

log = logging.getLogger(__name__)
STORE_GRACE_SECONDS = 1.0
PROCESSOR_GRACE_SECONDS = 1.5
SMTP_PORT = web.AppKey("smtp_port", int)
SPOOL = web.AppKey("spool", Spool)


async def mail_context(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings
    spool = await Spool.open(core.engine, settings.database.url, core.clock)
    mailbox = SupportMailbox(
        settings.smtp.addresses,
        spool,
        core.metrics,
        settings.smtp.proxy_protocol_from,
        Intake(settings.smtp, lambda: spool.pending),
    )
    server = await start_listener(settings.smtp, mailbox)
    app[SPOOL] = spool
    core.metrics.mail_pending.set_function(lambda: spool.pending)
    app[SMTP_PORT] = server.sockets[0].getsockname()[1]
    app[STOP_ACCEPTING].append(server.close)
    stopping = asyncio.Event()
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
            ).run(stopping),
            name="mail-processor",
        )
    yield
    # New connections stopped when draining began; a sender cut off before its 250 retries
    # later. A message being stored gets its answer; the batch being processed commits.
    server.close()
    await mailbox.storing.settled(STORE_GRACE_SECONDS)
    if processor is not None:
        await wind_down(processor, stopping, PROCESSOR_GRACE_SECONDS)
    await spool.close()
