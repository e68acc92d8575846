"""Small queries the pipeline and the staff desk share: conversations, requests, transcript."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pipeline.model import Author, ChatMessage, RequestStatus, Stage, Status
from gateway.pipeline.resume import ResumeTokens, token_hash
from gateway.storage.models import Account, ChangeRequest, Conversation, TranscriptMessage
from policies import Requirement

# A request staff have been given (a closed one was, too).
HANDED_TO_STAFF = frozenset({RequestStatus.FORWARDED, RequestStatus.UNMATCHED})


class UnknownConversation(LookupError):
    pass


def new_conversation(
    channel: str, client: str, language: str, now: datetime, tokens: ResumeTokens
) -> tuple[Conversation, str]:
    """A conversation and its resume token; only the token's hash is kept."""
    conversation_id = secrets.token_urlsafe(16)
    token = tokens.issue(conversation_id)
    conversation = Conversation(
        id=conversation_id,
        channel=channel,
        client=client[:320],
        language=language,
        stage=Stage.OPEN,
        resume_token_hash=token_hash(token),
        failed_attempts=0,
        created_at=now,
        updated_at=now,
    )
    return conversation, token


async def locked_conversation(session: AsyncSession, conversation_id: str) -> Conversation:
    """The conversation, its row locked until commit so turns of one conversation serialise."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise UnknownConversation(conversation_id)
    return conversation


async def active_request(session: AsyncSession, conversation: Conversation) -> ChangeRequest | None:
    if conversation.active_request_id is None:
        return None
    return await session.get(ChangeRequest, conversation.active_request_id)


async def latest_ticket(session: AsyncSession, conversation_id: str) -> str | None:
    return await session.scalar(
        select(ChangeRequest.ticket)
        .where(ChangeRequest.conversation_id == conversation_id)
        .order_by(ChangeRequest.id.desc())
        .limit(1)
    )


async def has_forwarded(session: AsyncSession, conversation_id: str) -> bool:
    query = select(
        exists().where(
            ChangeRequest.conversation_id == conversation_id,
            ChangeRequest.status.in_([*HANDED_TO_STAFF, RequestStatus.CLOSED]),
        )
    )
    return bool(await session.scalar(query))


async def add_message(
    session: AsyncSession, conversation_id: str, author: Author, text: str, now: datetime
) -> ChatMessage:
    """Store one transcript line; callers pass client and staff text through redact() first."""
    row = TranscriptMessage(
        conversation_id=conversation_id, author=author.value, text=text, created_at=now
    )
    session.add(row)
    await session.flush()
    return chat_message(row)


async def link_line(session: AsyncSession, line_id: int, request_id: int) -> None:
    """The line is (part of) what the request asks; the row is in the session already."""
    row = await session.get(TranscriptMessage, line_id)
    if row is not None:
        row.request_id = request_id


async def client_line(
    session: AsyncSession, conversation_id: str, line_id: int | None
) -> TranscriptMessage | None:
    """A line the client wrote in this conversation: the one named, or else the latest."""
    query = select(TranscriptMessage).where(
        TranscriptMessage.conversation_id == conversation_id,
        TranscriptMessage.author == Author.CLIENT.value,
    )
    if line_id is not None:
        query = query.where(TranscriptMessage.id == line_id)
    return await session.scalar(query.order_by(TranscriptMessage.id.desc()).limit(1))


async def client_texts(
    session: AsyncSession, request: ChangeRequest, limit: int = 500
) -> list[str]:
    """What the client wrote in the request's conversation, newest first (masked, as stored),
    but for the lines of the other changes held there: each of those is a request of its own,
    verified on its own, and names what it names for itself."""
    own_changes = (
        select(ChangeRequest.id)
        .where(
            ChangeRequest.conversation_id == request.conversation_id,
            ChangeRequest.id != request.id,
            ChangeRequest.stage_required == Requirement.AUTHENTICATED.value,
        )
        .scalar_subquery()
    )
    rows = await session.scalars(
        select(TranscriptMessage.text)
        .where(
            TranscriptMessage.conversation_id == request.conversation_id,
            TranscriptMessage.author == Author.CLIENT.value,
            or_(
                TranscriptMessage.request_id.is_(None),
                TranscriptMessage.request_id.not_in(own_changes),
            ),
        )
        .order_by(TranscriptMessage.id.desc())
        .limit(limit)
    )
    return list(rows)


async def lines_of(session: AsyncSession, request_id: int) -> list[tuple[int, str]]:
    """The transcript lines the request is made of, with their (masked) text."""
    rows = await session.execute(
        select(TranscriptMessage.id, TranscriptMessage.text)
        .where(TranscriptMessage.request_id == request_id)
        .order_by(TranscriptMessage.id)
    )
    return [(line_id, text) for line_id, text in rows]


async def held_requests(session: AsyncSession, conversation_id: str) -> list[ChangeRequest]:
    """Waiting for the client, oldest first: the one worked on, then those queued behind it."""
    rows = await session.scalars(
        select(ChangeRequest)
        .where(
            ChangeRequest.conversation_id == conversation_id,
            ChangeRequest.status == RequestStatus.HELD,
        )
        .order_by(ChangeRequest.id)
    )
    return list(rows)


async def read_transcript(session: AsyncSession, conversation_id: str) -> list[ChatMessage]:
    rows = await session.scalars(
        select(TranscriptMessage)
        .where(TranscriptMessage.conversation_id == conversation_id)
        .order_by(TranscriptMessage.id)
    )
    return [chat_message(row) for row in rows]


async def accounts_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Account]:
    if not ids:
        return []
    return list(await session.scalars(select(Account).where(Account.id.in_(ids))))


def status_of(conversation: Conversation, request: ChangeRequest | None) -> Status:
    return Status(
        conversation=conversation.id,
        stage=Stage(conversation.stage),
        ticket=request.ticket if request else None,
        intent=request.intent if request else None,
    )


def chat_message(row: TranscriptMessage) -> ChatMessage:
    return ChatMessage(row.id, Author(row.author), row.text, row.created_at)


async def request_in(
    session: AsyncSession, conversation_id: str, ticket: str
) -> ChangeRequest | None:
    """The conversation's request of that ticket, its row locked until commit."""
    return await session.scalar(
        select(ChangeRequest)
        .where(ChangeRequest.ticket == ticket, ChangeRequest.conversation_id == conversation_id)
        .with_for_update()
    )
