"""Ticket numbers: T- and six characters from A–Z and 0–9, short enough to read out."""

from __future__ import annotations

import re
import secrets
import string

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.storage.models import ChangeRequest

ALPHABET = string.ascii_uppercase + string.digits
TICKET_PATTERN = re.compile(r"T-[A-Z0-9]{6}")


def random_ticket() -> str:
    return "T-" + "".join(secrets.choice(ALPHABET) for _ in range(6))


async def new_ticket(session: AsyncSession) -> str:
    """Random rather than sequential, so a ticket says nothing about the provider's volume."""
    while True:
        ticket = random_ticket()
        taken = await session.scalar(select(ChangeRequest.id).where(ChangeRequest.ticket == ticket))
        if taken is None:
            return ticket
