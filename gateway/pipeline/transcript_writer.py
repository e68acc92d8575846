"""Transcript lines through the group committer: the common chat turn's only database write."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import Clock
from gateway.pipeline.model import Author, ChatMessage
from gateway.storage.group_commit import GroupCommitter
from gateway.storage.models import TranscriptMessage


class TranscriptWriter:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._rows = GroupCommitter(engine, cast(Table, TranscriptMessage.__table__))
        self._clock = clock

    async def append(self, conversation_id: str, author: Author, text: str) -> ChatMessage:
        """Store one line (already redacted) and return it once its batch has committed."""
        now = self._clock.now()
        row = {
            "conversation_id": conversation_id,
            "author": author.value,
            "text": text,
            "created_at": now,
        }
        return ChatMessage(await self._rows.insert(row), author, text, now)

    async def close(self) -> None:
        await self._rows.close()
