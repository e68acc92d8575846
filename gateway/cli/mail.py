"""`mail failed [--retry ID]`: the mail the gateway could not process, which went to staff
unread and marked for a human (or, when even that failed, still waits in the spool)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.core import open_core
from gateway.redaction import redact
from gateway.storage.models import InboundMail, SpooledMail
from gateway.timefmt import iso
from mail.processor import FAILED
from mail.spool import MAX_FAILURES, Spool

RETRIED = "retried"


def register(commands: Any) -> None:
    mail = commands.add_parser("mail", help="the support mailbox's mail")
    sub = mail.add_subparsers(dest="mail_command", required=True)
    failed = sub.add_parser("failed", help="mail that could not be processed")
    failed.add_argument(
        "--retry", type=int, metavar="ID", help="take this mail through the pipeline again"
    )
    failed.set_defaults(handler=failed_mail)


async def failed_mail(args: argparse.Namespace, settings: Settings) -> int:
    async with open_core(settings) as core:
        spool = await Spool.open(core.engine, settings.database.url, core.clock)
        try:
            if args.retry is not None:
                return await _retry(core.sessions, spool, args.retry)
            async with core.sessions() as session:
                handed = await session.execute(
                    select(
                        InboundMail.id,
                        InboundMail.received_at,
                        InboundMail.envelope_from,
                        InboundMail.outcome,
                        InboundMail.conversation_id,
                    )
                    .where(InboundMail.outcome.startswith(FAILED))
                    .order_by(InboundMail.id)
                )
                for mail_id, received, sender, outcome, conversation in handed:
                    reason = outcome.removeprefix(FAILED)
                    print(
                        f"{mail_id}\t{iso(received)}\t{redact(sender) or '<>'}\t{reason}\t"
                        f"sent to staff unread (conversation {conversation})"
                    )
            async with spool.engine.connect() as connection:
                stuck = await connection.execute(
                    select(SpooledMail.id, SpooledMail.received_at, SpooledMail.envelope_from)
                    .where(SpooledMail.failures >= MAX_FAILURES)
                    .order_by(SpooledMail.id)
                )
                for spool_id, received, sender in stuck:
                    print(
                        f"spool:{spool_id}\t{iso(received)}\t{redact(sender) or '<>'}\t"
                        "could not be handed to staff either: still in the spool"
                    )
        finally:
            await spool.close()
    return 0


async def _retry(sessions: async_sessionmaker[AsyncSession], spool: Spool, mail_id: int) -> int:
    async with sessions.begin() as session:
        mail = await session.get(InboundMail, mail_id)
        if mail is None or not mail.outcome.startswith(FAILED):
            print(f"gateway: no failed mail {mail_id}")
            return 1
        mail.outcome = f"{RETRIED} {mail.outcome}"[:32]
        raw, peer, sender, recipients = mail.raw, mail.peer, mail.envelope_from, mail.envelope_to
    # A new spool row (a new key): the processor takes it as a mail of its own.
    await spool.store(peer, sender, json.loads(recipients), raw)
    print(f"mail {mail_id} queued again")
    return 0
