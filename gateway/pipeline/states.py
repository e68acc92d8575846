"""What this node last knew of each conversation's stage, so that the common turn — a client
chatting on with staff who already have the conversation — needs no database read.

Only that turn (dialogue.Step.NOTE: store the line, nothing else) is ever taken on this
knowledge; every other step re-reads the conversation under its row lock. A stale entry can
therefore delay a reaction by one message, but can never verify, forward or reveal anything.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gateway.pipeline.model import ChatMessage, Stage, Status

# Chats open on one node at once, with room to spare: each entry is a few hundred bytes, and the
# least recently used goes first (a miss costs one full turn, never correctness).
MAX_ENTRIES = 10_000


@dataclass(slots=True)
class KnownState:
    status: Status
    with_staff: bool
    language: str


class ConversationStates:
    """A bounded LRU map, kept current by full turns and by the live events (Subscriber)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._known: OrderedDict[str, KnownState] = OrderedDict()
        self._max_entries = max_entries
        self._trusted = True

    def trust(self, trusted: bool) -> None:
        """Off while this node may miss another node's changes (see peer_status)."""
        self._trusted = trusted
        if not trusted:
            self._known.clear()

    def clear(self) -> None:
        self._known.clear()

    def get(self, conversation: str) -> KnownState | None:
        if not self._trusted:
            return None
        state = self._known.get(conversation)
        if state is not None:
            self._known.move_to_end(conversation)
        return state

    def remember(self, status: Status, with_staff: bool, language: str) -> None:
        if not self._trusted:
            return
        self._known[status.conversation] = KnownState(status, with_staff, language)
        self._known.move_to_end(status.conversation)
        while len(self._known) > self._max_entries:
            self._known.popitem(last=False)

    def forget(self, conversation: str) -> None:
        self._known.pop(conversation, None)

    # -- EventHub subscriber: changes made outside a client's turn (staff, close) --------

    async def message(self, conversation: str, message: ChatMessage) -> None:
        """Messages do not change a conversation's stage."""

    async def status(self, status: Status) -> None:
        state = self._known.get(status.conversation)
        if state is not None and state.status != status:
            # Staff asked for verification, or closed it: the next turn must take the full path.
            self.forget(status.conversation)

    async def request(self, ticket: str) -> None:
        """A request's own changes leave the conversation's stage as it was."""


def can_take_note(state: KnownState | None) -> bool:
    return (
        state is not None
        and state.with_staff
        and state.status.stage
        in (
            Stage.OPEN,
            Stage.VERIFIED,
        )
    )
