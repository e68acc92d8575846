"""SQLite's writer shared fairly (issue 15): interactive writers in arrival order and ahead
of the background's batches, which are slowed but never stopped; a cancelled waiter passes its
turn on."""

from __future__ import annotations

import asyncio

import pytest

from gateway.storage.writer_turns import AHEAD_OF_THE_BACKGROUND, WriterTurns


async def taking(turns: WriterTurns, name: str, order: list[str], background: bool) -> None:
    async with turns.background if background else turns.interactive:
        order.append(name)
        await asyncio.sleep(0)


async def queued(turns: WriterTurns, names: list[tuple[str, bool]]) -> list[str]:
    """Each writer queues while the turn is held, in this order; then the turn is freed."""
    order: list[str] = []
    await turns.acquire(background=True)
    tasks = []
    for name, background in names:
        tasks.append(asyncio.create_task(taking(turns, name, order, background)))
        await asyncio.sleep(0)
    turns.release()
    await asyncio.gather(*tasks)
    return order


async def test_interactive_writers_go_first_in_arrival_order() -> None:
    order = await queued(
        WriterTurns(), [("mail-1", True), ("chat-1", False), ("mail-2", True), ("chat-2", False)]
    )
    assert order == ["chat-1", "chat-2", "mail-1", "mail-2"]


async def test_the_background_is_slowed_never_stopped() -> None:
    chats = [(f"chat-{n}", False) for n in range(AHEAD_OF_THE_BACKGROUND * 3)]
    order = await queued(WriterTurns(), [("mail", True), *chats])
    assert order.index("mail") == AHEAD_OF_THE_BACKGROUND


async def test_interactive_waiting_is_seen_by_a_batch() -> None:
    turns = WriterTurns()
    await turns.acquire(background=True)
    assert not turns.interactive_waiting
    chat = asyncio.create_task(taking(turns, "chat", [], background=False))
    await asyncio.sleep(0)
    assert turns.interactive_waiting
    turns.release()
    await chat
    assert not turns.interactive_waiting


async def test_a_cancelled_waiter_passes_the_turn_on() -> None:
    turns = WriterTurns()
    order: list[str] = []
    await turns.acquire(background=False)
    first = asyncio.create_task(taking(turns, "first", order, background=False))
    second = asyncio.create_task(taking(turns, "second", order, background=False))
    await asyncio.sleep(0)
    turns.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"]
    async with turns.interactive:  # and the turn is free again
        pass
