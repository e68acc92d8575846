"""The tables. Secrets and national identifiers are never stored in clear: codes as keyed hashes,
PESEL/NIP/REGON as HMACs, client text only after redaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the column: SQLite has no time zones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default="pl")
    totp_secret: Mapped[str] = mapped_column(String(128))
    pesel_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    nip_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    regon_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The highest TOTP time step ever accepted: a code of this step or older is a replay.
    last_totp_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountService(Base):
    __tablename__ = "account_services"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(253), index=True)


class AccountMention(Base):
    """A squashed key an account may be mentioned by (gateway.accounts.mentions): one of its
    services, its login, its name. Kept beside the services, rewritten with them."""

    __tablename__ = "account_mentions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(253), index=True)


class PanelCode(Base):
    __tablename__ = "panel_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    """One chat session or one e-mail thread: the unit the state machine runs on."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    client: Mapped[str] = mapped_column(String(320), default="")
    language: Mapped[str] = mapped_column(String(2), default="pl")
    stage: Mapped[str] = mapped_column(String(16), default="open")
    resume_token_hash: Mapped[str] = mapped_column(String(64), default="")
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The request the dialogue is working on; no foreign key, to keep the two tables acyclic.
    active_request_id: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(500))  # an e-mail thread's subject
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChangeRequest(Base):
    """A request the gateway took from a client: held until verified, then forwarded."""

    __tablename__ = "change_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket: Mapped[str] = mapped_column(String(8), unique=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(64))
    stage_required: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    verification: Mapped[str] = mapped_column(String(16), default="unverified")
    request_text: Mapped[str] = mapped_column(Text, default="")
    # The merged duties of every intent the request matched, fixed when it was taken.
    duties: Mapped[str] = mapped_column(Text, default="{}")
    # Its scope (JSON lists): every intent that counts, every service and destination it
    # names. One verification covers this and nothing beyond it.
    intents: Mapped[str] = mapped_column(Text, default="[]")
    services: Mapped[str] = mapped_column(Text, default="[]")
    destinations: Mapped[str] = mapped_column(Text, default="[]")
    service: Mapped[str | None] = mapped_column(String(253))
    identified_by: Mapped[str | None] = mapped_column(String(16))
    identifier_hash: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    login: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sender_authentication: Mapped[str] = mapped_column(String(8), default="none")
    requested_by_staff: Mapped[str | None] = mapped_column(String(64))
    # "key id:HMAC" over what the request is about, set by the gateway whenever it sets those
    # (gateway.pipeline.sealing): no code verifies a held row edited in the database.
    seal: Mapped[str | None] = mapped_column(String(100))
    # The client's e-mail that made the request: staff receive it attached as message/rfc822.
    inbound_mail_id: Mapped[int | None] = mapped_column(BigInteger)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    action_text: Mapped[str | None] = mapped_column(Text)
    record_seq: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApprovalChallenge(Base):
    """A held request waiting for the client to approve it in the Client Panel (contract
    section 11). The number is shown to whoever asked; it binds the approval to that
    conversation and is not a secret. A row with no account is the stand-in shown when no
    account holds what stage 1 named: the same number and the same work, and nothing to
    approve, so the answer does not tell who is a client."""

    __tablename__ = "approval_challenges"
    __table_args__ = (
        # At most one pending per account on every node: a newer one replaces the older.
        Index(
            "ux_approval_challenges_pending_account",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("change_requests.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(8))
    # What the client is shown in the panel, by its digest: an approval covers these words.
    description_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TranscriptMessage(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The request this client line asked for or added to; a line no verified request covers
    # is marked so in the console.
    request_id: Mapped[int | None] = mapped_column(Integer)


class AuditRecord(Base):
    """One link of the hash chain: a verification record or a staff action."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    ticket: Mapped[str] = mapped_column(String(8), index=True)
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChainCheckpoint(Base):
    """The chain's head, MAC'd with the secret key, so a deleted tail cannot pass as complete."""

    __tablename__ = "chain_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class OutboxItem(Base):
    """A delivery owed to the outside world, kept until it succeeds."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(1000))
    ticket: Mapped[str | None] = mapped_column(String(8))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    delivery_id: Mapped[str] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "key id:HMAC" over kind, destination, delivery id and payload (gateway.outbox.queue): an
    # item edited in the database after it was queued is never delivered.
    seal: Mapped[str | None] = mapped_column(String(100))


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str] = mapped_column(String(128))
    last_totp_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A console login. Only the SHA-256 of the cookie's token is kept: a database dump does not
    yield live sessions; logout deletes the row, so the cookie dies on the server."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpooledMail(Base):
    """An accepted message, committed before the SMTP 250 and kept until it is processed: the
    queue that survives a crash. On SQLite it lives in a database file of its own, so taking
    mail in never waits for the pipeline's transactions (SQLite has one writer per file)."""

    __tablename__ = "spooled_mail"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    peer: Mapped[str] = mapped_column(String(64), default="")
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    envelope_to: Mapped[str] = mapped_column(Text, default="[]")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class InboundMail(Base):
    """A mail taken through the pipeline, with its original (staff get it attached). Its
    unique spool key is what makes processing exactly-once: a spooled mail whose key is here
    is done, whatever happened to its spool row afterwards."""

    __tablename__ = "inbound_mail"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    spool_key: Mapped[str] = mapped_column(String(32), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    peer: Mapped[str] = mapped_column(String(64), default="")
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    envelope_to: Mapped[str] = mapped_column(Text, default="[]")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32), default="")


class MailThread(Base):
    """Message-IDs of a conversation's mails, ours and the client's: how a reply finds its
    thread when the subject lost the ticket."""

    __tablename__ = "mail_threads"

    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Ours only: fingerprints of the words we wrote (gateway.own_words), JSON, so a reply that
    # quotes them is not read as the client asking for what we described.
    own_words: Mapped[str | None] = mapped_column(Text)


class AutoReply(Base):
    """Auto-replies sent, per recipient: at most a few an hour, so no loop or flood grows."""

    __tablename__ = "auto_replies"
    __table_args__ = (Index("ix_auto_replies_recipient_sent", "recipient", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
