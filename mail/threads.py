"""Which conversation an incoming mail belongs to: the ticket token in the subject, or the
Message-IDs it replies to. Only the same sender continues a thread, so a stranger who saw a
ticket number cannot take the conversation over (they start a new one instead)."""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pipeline.tickets import TICKET_PATTERN
from gateway.storage.models import ChangeRequest, Conversation, MailThread
from policies import Channel

TICKET_IN_SUBJECT = re.compile(rf"\[({TICKET_PATTERN.pattern})\]")


async def find_thread(
    session: AsyncSession, sender: str, subject: str, replied_to: tuple[str, ...]
) -> str | None:
    for ticket in TICKET_IN_SUBJECT.findall(subject.upper()):
        conversation = await session.scalar(
            select(Conversation)
            .join(ChangeRequest, ChangeRequest.conversation_id == Conversation.id)
            .where(ChangeRequest.ticket == ticket, Conversation.channel == Channel.EMAIL.value)
        )
        if conversation is not None and conversation.client == sender:
            return conversation.id
    if replied_to:
        candidates = await session.scalars(
            select(Conversation)
            .join(MailThread, MailThread.conversation_id == Conversation.id)
            .where(MailThread.message_id.in_(replied_to[:50]))
        )
        for conversation in candidates:
            if conversation.client == sender:
                return conversation.id
    return None


async def remember_message(
    session: AsyncSession, message_id: str | None, conversation: str, now: datetime
) -> None:
    """Keep a mail's Message-ID so replies to it find the conversation."""
    if not message_id or len(message_id) > 255:
        return
    if await session.get(MailThread, message_id) is None:
        session.add(MailThread(message_id=message_id, conversation_id=conversation, added_at=now))


async def own_words(session: AsyncSession, replied_to: tuple[str, ...]) -> set[str]:
    """Fingerprints of what we wrote in the mails this one answers (gateway.own_words)."""
    if not replied_to:
        return set()
    rows = await session.scalars(
        select(MailThread.own_words).where(
            MailThread.message_id.in_(replied_to[:50]), MailThread.own_words.is_not(None)
        )
    )
    return {fingerprint for row in rows if row for fingerprint in json.loads(row)}
