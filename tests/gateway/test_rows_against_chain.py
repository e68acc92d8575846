"""Rows outside the chain (issue 13, item 1): the request rows the console, the export and the
gate read are held against the chain, so an edit made behind the gateway's back (here through
SQL on its database, SQLite and PostgreSQL) is named by `audit verify` and refused by the gate.
Anna holds anna.example; her DNS change is verified, then closed; Jan's transfer stays held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from gateway.audit.agreement import first_disagreement
from gateway.codes.totp import totp_for
from gateway.core import Core
from gateway.staff.desk import DeskError, StaffDesk
from gateway.storage.models import AuditRecord, ChangeRequest, TranscriptMessage
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.gateway.memory_channel import MemoryChat


async def anna_verified(core: Core, clock: MovableClock, text: str) -> ChangeRequest:
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say(text)
    clock.advance(seconds=30)
    assert (await client.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified
    return await request_of(core, client)


async def request_of(core: Core, client: MemoryChat) -> ChangeRequest:
    async with core.sessions() as session:
        query = select(ChangeRequest).where(ChangeRequest.conversation_id == client.conversation)
        return (await session.scalars(query.order_by(ChangeRequest.id.desc()))).first()  # type: ignore[return-value]


async def held_transfer(core: Core) -> ChangeRequest:
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say("Please transfer example.pl to another registrar")
    return await request_of(core, client)


async def edit(core: Core, request: ChangeRequest, **values: Any) -> None:
    async with core.sessions.begin() as session:
        await session.execute(
            update(ChangeRequest).where(ChangeRequest.id == request.id).values(**values)
        )


async def problem(core: Core) -> str | None:
    async with core.sessions() as session:
        return await first_disagreement(session)


@pytest.fixture
async def three(core: Core, clients: dict[str, int], clock: MovableClock) -> dict[str, Any]:
    verified = await anna_verified(core, clock, "Please add a TXT record to anna.example")
    closed = await anna_verified(
        core, clock, "Please set the MX of anna.example to mx.anna.example"
    )
    await StaffDesk.of(core).record_action("alice", closed.ticket, "set the MX record")
    held = await held_transfer(core)
    assert await problem(core) is None  # untouched, every row agrees
    return {"verified": verified, "closed": closed, "held": held}


@pytest.mark.parametrize(
    ("which", "values", "named"),
    [
        ("held", {"status": "forwarded", "verification": "verified"}, "no chained verification"),
        ("held", {"verification": "verified"}, "with no chained record"),
        ("verified", {"request_text": "Please transfer example.pl"}, "request_text differs"),
        ("verified", {"intent": "domain_transfer"}, "intent is"),
        ("verified", {"intents": '["domain_transfer"]'}, "intents is"),
        ("verified", {"method": "panel_code"}, "method is"),
        ("verified", {"sender_authentication": "pass"}, "sender_authentication is"),
        ("verified", {"requested_by_staff": "mallory"}, "requested_by_staff is"),
        ("verified", {"verified_at": datetime(2020, 1, 1, tzinfo=UTC)}, "verified_at is"),
        ("verified", {"duties": '{"cooling_off_seconds": 0}'}, "duties is"),
        ("verified", {"login": "jan.kowalski"}, "login is"),
        ("verified", {"service": "example.pl"}, "service is"),
        ("verified", {"services": '["example.pl"]'}, "services is"),
        ("verified", {"destinations": '["evil@attacker.example"]'}, "destinations is"),
        ("verified", {"stage_required": "identified"}, "stage_required is"),
        ("verified", {"status": "held"}, "forwarded it"),
        ("verified", {"status": "closed"}, "no chained action record"),
        ("closed", {"action_text": "transferred example.pl"}, "action_text differs"),
        ("closed", {"closed_by": "mallory"}, "closed_by is"),
        ("closed", {"status": "forwarded"}, "closed it"),
        ("held", {"status": "expired"}, "no chained expiry record"),
    ],
)
async def test_an_edited_row_is_named_by_id_and_field(
    core: Core, three: dict[str, Any], which: str, values: dict[str, Any], named: str
) -> None:
    request = three[which]
    await edit(core, request, **values)
    found = await problem(core)
    assert found is not None and found.startswith(f"change_requests {request.id} ")
    assert named in found


async def test_a_verified_request_moved_into_another_conversation_cannot_be_acted_on(
    core: Core, three: dict[str, Any]
) -> None:
    """The attack: the verified request's row is moved into the attacker's own conversation,
    where staff would act on it as the attacker's: the gate refuses, naming the field."""
    verified, held = three["verified"], three["held"]
    await edit(core, verified, conversation_id=held.conversation_id)
    desk = StaffDesk.of(core)
    with pytest.raises(DeskError, match="does not match the chain"):
        await desk.record_action("alice", verified.ticket, "done")
    view = await desk.conversation(held.conversation_id)
    (entry,) = [entry for entry in view.requests if entry.ticket == verified.ticket]
    assert not entry.actionable and entry.tampered and "conversation_id" in entry.tampered


async def test_a_row_pointed_at_another_requests_record_is_named(
    core: Core, three: dict[str, Any]
) -> None:
    await edit(core, three["held"], record_seq=three["verified"].record_seq)
    assert f"change_requests {three['held'].id} " in str(await problem(core))


async def test_a_deleted_request_row_is_named_by_its_record(
    core: Core, three: dict[str, Any]
) -> None:
    async with core.sessions.begin() as session:
        await session.execute(delete(ChangeRequest).where(ChangeRequest.id == three["verified"].id))
    assert f"({three['verified'].ticket}): its request is missing" in str(await problem(core))


async def test_the_gate_refuses_an_action_on_a_row_the_chain_does_not_back(
    core: Core, three: dict[str, Any]
) -> None:
    """The attack: a held transfer flipped to verified and forwarded by SQL; staff cannot act on
    it, and the console shows why instead of offering the action."""
    held = three["held"]
    await edit(core, held, status="forwarded", verification="verified", login="jan.kowalski")
    desk = StaffDesk.of(core)
    with pytest.raises(DeskError, match="does not match the chain"):
        await desk.record_action("alice", held.ticket, "sent the AuthInfo")
    view = await desk.conversation(held.conversation_id)
    (entry,) = [entry for entry in view.requests if entry.ticket == held.ticket]
    assert not entry.actionable and entry.tampered and "no chained" in entry.tampered
    queue = {e.ticket: e for e in await desk.queue()}
    assert held.ticket not in queue or not queue[held.ticket].actionable


async def test_a_rewritten_text_is_refused_and_exported_with_its_verdict(
    core: Core, three: dict[str, Any]
) -> None:
    from gateway.audit.export import export_ticket

    verified = three["verified"]
    await edit(core, verified, request_text="Please also transfer example.pl away")
    with pytest.raises(DeskError, match="does not match the chain"):
        await StaffDesk.of(core).record_action("alice", verified.ticket, "did it")
    async with core.sessions() as session:
        bundle = await export_ticket(session, core.keys, verified.ticket)
        row = await session.get(AuditRecord, verified.record_seq)
    assert row is not None
    assert bundle["chain_verdict"]["request"].startswith("request_text differs")


async def client_line_of(core: Core, request: ChangeRequest) -> TranscriptMessage:
    async with core.sessions() as session:
        query = select(TranscriptMessage).where(TranscriptMessage.request_id == request.id)
        line = await session.scalar(query)
    assert line is not None
    return line


async def test_the_lines_a_verification_covers_are_held_against_their_digests(
    core: Core, three: dict[str, Any]
) -> None:
    """Review (helper-11, F1): the transcript was not checked, so the verified line could be
    rewritten ("change the owner to Evil Corp"), and a line inserted or moved in from another
    conversation showed as covered by the verification. Each is named; none shows covered."""
    verified, held = three["verified"], three["held"]
    line = await client_line_of(core, verified)
    async with core.sessions.begin() as session:
        row = await session.get(TranscriptMessage, line.id)
        assert row is not None
        row.text = "Please change the owner of anna.example to Evil Corp Ltd"
    assert f"transcript line {line.id} differs" in str(await problem(core))
    async with core.sessions.begin() as session:
        row = await session.get(TranscriptMessage, line.id)
        assert row is not None
        row.text = line.text
        forged = TranscriptMessage(
            conversation_id=verified.conversation_id,
            author="client",
            text="Also transfer example.pl to GoDaddy",
            created_at=line.created_at,
            request_id=verified.id,
        )
        session.add(forged)
    assert "are linked to it" in str(await problem(core))
    view = await StaffDesk.of(core).conversation(verified.conversation_id)
    (shown,) = [t for t in view.transcript if "GoDaddy" in t.message.text]
    assert not shown.covered
    moved = await client_line_of(core, held)
    async with core.sessions.begin() as session:
        await session.execute(delete(TranscriptMessage).where(TranscriptMessage.id == forged.id))
        await session.execute(
            update(TranscriptMessage)
            .where(TranscriptMessage.id == moved.id)
            .values(conversation_id=verified.conversation_id, request_id=verified.id)
        )
    assert "are linked to it" in str(await problem(core))


@pytest.mark.parametrize(
    ("which", "values", "named"),
    [
        # Review (helper-11, F2): an empty text passed as purged on a live request.
        ("verified", {"request_text": ""}, "request_text differs"),
        # F8: times shown but not checked.
        ("closed", {"closed_at": datetime(2020, 1, 1, tzinfo=UTC)}, "closed_at is"),
        ("verified", {"created_at": datetime(2036, 1, 1, tzinfo=UTC)}, "created_at is"),
    ],
)
async def test_empty_texts_and_times_are_held_against_the_chain(
    core: Core, three: dict[str, Any], which: str, values: dict[str, Any], named: str
) -> None:
    await edit(core, three[which], **values)
    assert named in str(await problem(core))


async def test_a_hold_dated_in_the_future_is_verified_by_no_code(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    """Review (helper-11, F7): a held request re-dated to 2036 never expired and was then
    verified 100 hours on. No code counts for a hold older than `requests.hold_hours`, or
    dated in the future."""
    for created in (datetime(2036, 1, 1, tzinfo=UTC), clock.now() - timedelta(hours=100)):
        client = await MemoryChat(core.pipeline, language="en").open()
        await client.say("Please add a TXT record to anna.example")
        await edit(core, await request_of(core, client), created_at=created)
        clock.advance(seconds=30)
        assert not (await client.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified


@pytest.mark.parametrize(
    "values",
    [
        {"destinations": '["evil@attacker.example"]'},
        {"intents": '["dns_change", "access_grant"]'},
        {"services": '["anna.example", "sklep-anny.pl"]'},
        {"request_text": "Please add a TXT record to anna.example and forward all mail to evil"},
        {"duties": '{"notify_contact": false, "cooling_off_seconds": 0}'},
    ],
)
async def test_a_held_request_widened_in_the_database_is_verified_by_no_code(
    core: Core, clients: dict[str, int], clock: MovableClock, values: dict[str, Any]
) -> None:
    """Re-review (helper-13, 1): a held row's destinations edited before the client gave the
    code got the edit verified (the record chains what the row holds). The gateway seals what
    a held request is about; no code is checked for a row whose seal does not hold."""
    client = await MemoryChat(core.pipeline, language="en").open()
    await client.say("Please add a TXT record to anna.example")
    await edit(core, await request_of(core, client), **values)
    clock.advance(seconds=30)
    assert not (await client.form("anna.nowak", totp_for(ANNA_SECRET).at(clock.now()))).verified
    async with core.sessions() as session:
        assert list(await session.scalars(select(AuditRecord))) == []
