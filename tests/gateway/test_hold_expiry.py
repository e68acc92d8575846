"""Held requests expire (issue 13, item 3): after `requests.hold_hours` a request still waiting
for the client's code is withdrawn on the gateway's clock, the client is told on its channel,
the chain records it, and a code given afterwards verifies nothing. Both databases."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default

from sqlalchemy import select

from gateway.audit.agreement import first_disagreement
from gateway.codes.totp import totp_for
from gateway.core import Core
from gateway.housekeeping import expire_holds
from gateway.pipeline.model import Stage
from gateway.storage.models import (
    AuditRecord,
    ChangeRequest,
    Conversation,
    OutboxItem,
    TranscriptMessage,
)
from policies import Channel
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.gateway.memory_channel import MemoryChat


async def requests_of(core: Core, conversation: str) -> list[ChangeRequest]:
    async with core.sessions() as session:
        query = select(ChangeRequest).where(ChangeRequest.conversation_id == conversation)
        return list(await session.scalars(query.order_by(ChangeRequest.id)))


async def test_a_request_held_too_long_is_withdrawn_and_the_chain_says_so(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say("Please transfer example.pl to another registrar")
    assert client.stage is Stage.AUTHENTICATE
    clock.advance(hours=71)
    assert await expire_holds(core) == 0  # not yet: 72 hours by default
    clock.advance(hours=2)
    assert await expire_holds(core) == 1
    (request,) = await requests_of(core, client.conversation)
    assert request.status == "expired" and request.closed_by == "gateway"
    async with core.sessions() as session:
        row = await session.scalar(select(AuditRecord).where(AuditRecord.ticket == request.ticket))
        assert row is not None and row.kind == "expiry"
        assert json.loads(row.body)["hold_hours"] == 73
        assert await first_disagreement(session) is None
    assert await expire_holds(core) == 0  # a second pass (another node) finds nothing
    code = totp_for(JAN_SECRET).at(clock.now())
    outcome = await client.form("jan.kowalski", code)
    assert outcome.verified is False and client.stage is Stage.OPEN


async def test_the_client_is_told_and_a_younger_request_comes_up(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say("Please transfer example.pl to another registrar")
    clock.advance(hours=70)
    await client.say("Also send the invoice duplicate for vps-1234 to billing@elsewhere.example")
    client.inbox.clear()
    clock.advance(hours=3)
    assert await expire_holds(core) == 1
    first, second = await requests_of(core, client.conversation)
    assert first.status == "expired" and second.status == "held"
    async with core.sessions() as session:
        lines = list(await session.scalars(select(TranscriptMessage.text)))
        conversation = await session.get(Conversation, client.conversation)
    told = any(first.ticket in line and "withdrawn" in line for line in lines)
    assert told, (first.ticket, lines)  # once seen failing under load: say what was there
    assert conversation is not None and conversation.active_request_id == second.id


async def test_an_email_client_gets_a_mail_saying_so(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await MemoryChat(
        core.pipeline, channel=Channel.EMAIL, language="pl", client="jan@example.com"
    ).open()
    await client.say("Proszę przenieść domenę example.pl do innego rejestratora")
    clock.advance(hours=73)
    async with core.sessions() as session:
        before = len(list(await session.scalars(select(OutboxItem.id))))
    assert await expire_holds(core) == 1
    async with core.sessions() as session:
        mails = list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
    assert len(mails) > before
    told = message_from_bytes(mails[-1].payload, policy=default)
    assert "jan@example.com" in mails[-1].destination
    assert "wycofane" in told.get_body(("plain",)).get_content()  # type: ignore[union-attr]
