"""Mail to the client of an e-mail conversation: the bot's auto-replies and staff replies alike.
Queued in the caller's transaction (the outbox), threaded under the client's own mail, and built
with the email package, so nothing a client wrote can inject a header."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.outbox.messages import plain_message
from gateway.outbox.queue import Outbox
from gateway.own_words import fingerprints
from gateway.pipeline.replies import Replies
from gateway.pipeline.tickets import TICKET_PATTERN
from gateway.storage.models import Conversation, MailThread
from policies import Channel

_REPLY_PREFIX = re.compile(
    rf"^\s*((re|odp|aw|fw|fwd|pd)\s*:\s*|\[{TICKET_PATTERN.pattern}\]\s*)+", re.I
)
MAX_REFERENCES = 10


# The subject of an automatic reply: the ticket and our own words only. Echoing the client's
# subject would carry an attacker's text to whatever envelope sender they forged (backscatter).
AUTOMATIC_SUBJECT = {
    "pl": "Twoje zgłoszenie do pomocy technicznej",
    "en": "Your request to support",
}


def automatic_subject(ticket: str | None, language: str) -> str:
    words = AUTOMATIC_SUBJECT.get(language, AUTOMATIC_SUBJECT["en"])
    return f"[{ticket}] {words}" if ticket else words


def reply_subject(ticket: str | None, original: str) -> str:
    stripped = _REPLY_PREFIX.sub("", original).strip()[:200] or "(no subject)"
    return f"[{ticket}] Re: {stripped}" if ticket else f"Re: {stripped}"


class ClientMail:
    def __init__(self, sender: str, outbox: Outbox, replies: Replies, clock: Clock) -> None:
        self._sender = sender
        self._outbox = outbox
        self._replies = replies
        self._clock = clock

    async def send(
        self,
        session: AsyncSession,
        conversation: Conversation,
        texts: Sequence[str],
        *,
        ticket: str | None,
        automatic: bool,
        recipient: str | None = None,
        replying_to: str | None = None,
        references: Sequence[str] = (),
    ) -> str:
        """Queue one mail to the client; returns its Message-ID. Automatic mail (RFC 3834)
        carries `Auto-Submitted` and the null return path: it must never start a mail loop."""
        now = self._clock.now()
        if replying_to is None:
            replying_to, references = await self._thread_of(session, conversation.id)
        footer = self._replies.render(conversation.language, "footer", Channel.EMAIL)
        to = recipient or conversation.client
        headers = {}
        if automatic:
            headers["Auto-Submitted"] = "auto-replied"
            headers["X-Auto-Response-Suppress"] = "All"  # and Exchange does not answer in turn
        if replying_to:
            chain = [ref for ref in references if ref != replying_to][-MAX_REFERENCES:]
            headers["In-Reply-To"] = replying_to
            headers["References"] = " ".join([*chain, replying_to])
        if automatic:
            subject = automatic_subject(ticket, conversation.language)
        else:
            subject = reply_subject(ticket, conversation.subject or "")
        body = "\n\n".join([*texts, footer]) + "\n"
        message = plain_message(
            sender=self._sender,
            to=to,
            subject=subject,
            body=body,
            now=now,
            headers=headers,
        )
        message["Content-Language"] = conversation.language  # set_content drops Content-*
        envelope_sender = "" if automatic else self._sender
        self._outbox.add_mail(
            session, message, [to], envelope_sender=envelope_sender, ticket=ticket
        )
        session.add(
            MailThread(
                message_id=message["Message-ID"],
                conversation_id=conversation.id,
                added_at=now,
                own_words=json.dumps(fingerprints(f"{subject}\n{body}")),
            )
        )
        return str(message["Message-ID"])

    async def _thread_of(
        self, session: AsyncSession, conversation_id: str
    ) -> tuple[str | None, list[str]]:
        """The conversation's latest mail (answered) and the ones before it (referenced)."""
        known = list(
            await session.scalars(
                select(MailThread.message_id)
                .where(MailThread.conversation_id == conversation_id)
                .order_by(MailThread.added_at.desc())
                .limit(MAX_REFERENCES)
            )
        )
        return (known[0] if known else None), list(reversed(known[1:]))
