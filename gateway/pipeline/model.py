"""The values that cross between channels and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from gateway.credentials import Credentials
from policies import Channel as ChannelName


class Stage(StrEnum):
    OPEN = "open"
    IDENTIFY = "identify"
    AUTHENTICATE = "authenticate"
    VERIFIED = "verified"
    LOCKED = "locked"
    CLOSED = "closed"


class Author(StrEnum):
    BOT = "bot"
    STAFF = "staff"
    CLIENT = "client"


class RequestStatus(StrEnum):
    HELD = "held"  # waiting for the client's identification or code
    FORWARDED = "forwarded"  # with staff, carrying its verification record
    UNMATCHED = "unmatched"  # needed identification that matched no account: console only
    LOCKED = "locked"  # its conversation ran out of attempts
    CANCELLED = "cancelled"
    CLOSED = "closed"  # staff recorded the action taken


class Verification(StrEnum):
    VERIFIED = "verified"
    IDENTIFIED = "identified"
    NOT_REQUIRED = "not_required"
    UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a client said, whatever the channel: text, or the masked credentials form."""

    channel: ChannelName
    conversation: str
    text: str = ""
    credentials: Credentials | None = None
    client: str = ""
    sender_authentication: str = "none"
    mail_id: int | None = None  # the spooled e-mail this came in (staff get it attached)
    needs_human: bool = False  # the e-mail could not be read well: staff must look themselves


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    author: Author
    text: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Status:
    conversation: str
    stage: Stage
    ticket: str | None
    intent: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an inbound: the client message's id (or why it was refused), the bot's
    replies, the conversation's status afterwards and, for credentials, whether they verified."""

    status: Status
    replies: tuple[ChatMessage, ...] = ()
    message_id: int | None = None
    error: str | None = None
    verified: bool | None = None


class Channel(Protocol):
    """How the pipeline reaches a client outside a client's own turn (staff replies)."""

    async def send(self, conversation: str, message: ChatMessage) -> None: ...

    async def update(self, status: Status) -> None: ...
