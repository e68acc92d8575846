"""The values that cross between channels and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

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
    # A mail in a thread staff already have whose sender proved nothing (no aligned DKIM, no
    # trusted Authentication-Results): anyone who knows a ticket can write one with a forged
    # envelope sender, so it is shown apart, never as the client's own words.
    UNPROVEN = "unproven"


class RequestStatus(StrEnum):
    HELD = "held"  # waiting for the client's identification or code
    FORWARDED = "forwarded"  # with staff, carrying its verification record
    UNMATCHED = "unmatched"  # needed identification that matched no account: console only
    LOCKED = "locked"  # its conversation ran out of attempts
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # held longer than requests.hold_hours: withdrawn by the gateway
    CLOSED = "closed"  # staff recorded the action taken


class Verification(StrEnum):
    VERIFIED = "verified"
    IDENTIFIED = "identified"
    NOT_REQUIRED = "not_required"
    UNVERIFIED = "unverified"
    UNMATCHED = "unmatched"  # stage 1 was all it needed, and no account holds what it named
    DENIED_BY_CLIENT = "denied_by_client"  # the account holder said "not me": cancelled


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
    # What else the e-mail shows (subject, quotes, other parts, attachments): classified with
    # the text and kept in the transcript, but never read for credentials.
    shown: str = ""

    @property
    def said(self) -> str:
        """Everything staff will read of it, and so everything that is classified."""
        return f"{self.text}\n\n{self.shown}".strip() if self.shown else self.text


@dataclass(frozen=True, slots=True)
class StaffCommand:
    """Something a staff member does in a conversation: a turn of the same pipeline as a
    client's message, decided by the same dialogue and changing stages by the same table."""

    staff: str
    conversation: str


@dataclass(frozen=True, slots=True)
class StaffReply(StaffCommand):
    text: str


@dataclass(frozen=True, slots=True)
class RequestVerification(StaffCommand):
    """Turn what the client said (one transcript line, by default the latest not yet covered
    by a verification) into a held request of the given change intent."""

    line: int | None = None
    intent: str | None = None


@dataclass(frozen=True, slots=True)
class RecordAction(StaffCommand):
    ticket: str
    text: str


@dataclass(frozen=True, slots=True)
class CloseConversation(StaffCommand):
    pass


@dataclass(frozen=True, slots=True)
class ExpireHolds(StaffCommand):
    """The gateway's clock, as an actor: withdraw the conversation's requests held since
    before `cutoff`. Through the same door as staff, so the same table and chain apply."""

    cutoff: datetime


@dataclass(frozen=True, slots=True)
class PhoneCall(StaffCommand):
    """A hotline agent opens a held request for a caller: stage 1 as the caller states it (a
    service, or a PESEL, NIP or REGON), the change chosen from the policies' change intents,
    and what the caller asks for in the agent's words. The caller approves it in the Client
    Panel; no code is ever said or typed."""

    stage_one: str
    intent: str
    text: str


EXPIRY_ACTOR = "gateway"


class PanelChoice(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class PanelDecision:
    """The account holder, logged in to the Client Panel, approves or denies one challenge:
    a turn of the conversation the request was made in, like any other."""

    conversation: str
    challenge: str  # its public id
    login: str
    choice: PanelChoice
    number: str = ""


@dataclass(frozen=True, slots=True)
class ContactDenial:
    """ "I did not ask for this", from the signed link in a notice to the account's registered
    contact: stops a verified request staff have not acted on yet, like a denial."""

    conversation: str
    ticket: str
    account_id: int


Command = Inbound | StaffCommand | PanelDecision | ContactDenial


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    author: Author
    text: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class ApprovalPrompt:
    """What the requester is shown while a challenge of theirs is pending."""

    number: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Status:
    conversation: str
    stage: Stage
    ticket: str | None
    intent: str | None
    approval: ApprovalPrompt | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a command: the message's id (or why it was refused), the bot's replies,
    the conversation's status afterwards and, for credentials, whether they verified."""

    status: Status
    replies: tuple[ChatMessage, ...] = ()
    message_id: int | None = None
    error: str | None = None
    verified: bool | None = None
    record: dict[str, Any] | None = None  # the chain record a staff action wrote
    panel: PanelAnswer | None = None  # what a panel decision came to


class PanelOutcome(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    WRONG_NUMBER = "wrong_number"
    EXPIRED = "expired"  # past its time, replaced by a newer one, voided, or already decided
    NOT_FOUND = "not_found"  # no such challenge for this login


@dataclass(frozen=True, slots=True)
class PanelAnswer:
    outcome: PanelOutcome
    attempts_left: int = 0
