"""The JSON shapes of contract section 7."""

from __future__ import annotations

from typing import Any

from gateway.pipeline.model import ChatMessage, Status
from gateway.timefmt import iso


def message_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author.value,
        "text": message.text,
        "ts": iso(message.ts),
    }


def status_json(status: Status, token: str | None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "conversation": status.conversation,
        "token": token,
        "stage": status.stage.value,
        "ticket": status.ticket,
        "intent": status.intent,
    }
    if status.approval is not None:  # contract section 11: only while one is pending
        shown["approval"] = {
            "number": status.approval.number,
            "expires_at": iso(status.approval.expires_at),
        }
    return shown
