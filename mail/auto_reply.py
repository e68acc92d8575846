"""When the gateway may answer a mail automatically (RFC 3834): never to bounces, lists, bulk
or other automatic mail, and at most a few times per sender per hour. The reply itself is built
and queued by gateway.pipeline.client_mail."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.storage.models import AutoReply
from mail.parse import ParsedMail

NO_REPLY_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.I)
RATE_WINDOW = timedelta(hours=1)


def is_automatic(mail: ParsedMail, sender: str) -> bool:
    """Mail that must never get an auto-reply, whatever it says (`sender`: MAIL FROM's address,
    empty for a bounce)."""
    return (
        not sender
        or bool(NO_REPLY_SENDERS.match(sender))
        or mail.is_bounce
        or mail.auto_submitted
        or mail.bulk
    )


async def under_rate_limit(
    session: AsyncSession, recipient: str, limit: int, now: datetime
) -> bool:
    sent = await session.scalar(
        select(func.count(AutoReply.id)).where(
            AutoReply.recipient == recipient, AutoReply.sent_at > now - RATE_WINDOW
        )
    )
    return int(sent or 0) < limit
