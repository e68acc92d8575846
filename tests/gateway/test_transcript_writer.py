"""Group commit: many concurrent lines, one batch; every id returned is the row of its text."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from gateway.core import Core
from gateway.pipeline.model import Author
from gateway.pipeline.transcript_writer import TranscriptWriter
from gateway.storage.models import TranscriptMessage
from policies import Channel


async def test_concurrent_appends_get_their_own_ids(core: Core) -> None:
    conversations = [
        (await core.pipeline.open_conversation(Channel.CHAT)).status.conversation for _ in range(5)
    ]
    writer = TranscriptWriter(core.engine, core.clock)
    try:
        lines = [(conversations[n % 5], f"line {n}") for n in range(300)]
        stored = await asyncio.gather(*(writer.append(c, Author.CLIENT, t) for c, t in lines))
    finally:
        await writer.close()
    assert len({message.id for message in stored}) == 300
    async with core.sessions() as session:
        rows = {
            row.id: (row.conversation_id, row.text)
            for row in await session.scalars(select(TranscriptMessage))
        }
    for (conversation, text), message in zip(lines, stored, strict=True):
        assert message.text == text
        assert rows[message.id] == (conversation, text)


async def test_a_failed_batch_fails_its_lines_and_the_next_one_works(core: Core) -> None:
    writer = TranscriptWriter(core.engine, core.clock)
    try:
        try:
            await writer.append("no-such-conversation", Author.CLIENT, "orphan")
        except Exception as exc:  # noqa: BLE001 - the foreign key refuses it
            assert "FOREIGN KEY" in str(exc).upper() or "foreign key" in str(exc)
        else:
            raise AssertionError("an orphan line was stored")
        opened = await core.pipeline.open_conversation(Channel.CHAT)
        message = await writer.append(opened.status.conversation, Author.CLIENT, "fine")
        assert message.text == "fine"
    finally:
        await writer.close()
