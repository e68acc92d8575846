"""One verification covers one request: the attacks of the security review (issue 11, items 1-4),
through the whole pipeline on both databases. Anna is the attacker: she holds anna.example and
has her own codes; Jan holds example.pl and vps-1234."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.core import Core
from gateway.pipeline.model import RequestStatus, Stage
from gateway.staff.desk import DeskError, StaffDesk
from gateway.storage.models import AuditRecord, ChangeRequest
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET, JAN_SECRET
from tests.gateway.memory_channel import MemoryChat


async def chat(core: Core) -> MemoryChat:
    client = await MemoryChat(core.pipeline, language="en").open()
    client.pop()
    return client


def code(secret: str, clock: MovableClock) -> str:
    clock.advance(seconds=30)  # a fresh TOTP step each time: an older one would be a replay
    return totp_for(secret).at(clock.now())


async def requests(core: Core, conversation: str) -> list[ChangeRequest]:
    async with core.sessions() as session:
        query = select(ChangeRequest).where(ChangeRequest.conversation_id == conversation)
        return list(await session.scalars(query.order_by(ChangeRequest.id)))


async def record_of(core: Core, request: ChangeRequest) -> dict[str, object]:
    async with core.sessions() as session:
        row = await session.get(AuditRecord, request.record_seq)
        assert row is not None
        return dict(json.loads(row.body))


async def test_a_question_cannot_be_acted_on_until_it_is_verified_as_a_request(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    """The recogniser took a change for a question: staff may answer it, never act on it, and
    can only turn it into a request the client must verify."""
    client = await chat(core)
    await client.say("Hello, I have a favour to ask about anna.example")
    (question,) = await requests(core, client.conversation)
    assert question.verification == "not_required"
    desk = StaffDesk.of(core)
    with pytest.raises(DeskError, match="not verified"):
        await desk.record_action("agnieszka", question.ticket, "changed the e-mail")
    status = await desk.request_verification("agnieszka", client.conversation)
    assert status.stage is Stage.AUTHENTICATE and status.ticket != question.ticket
    held = (await requests(core, client.conversation))[-1]
    assert held.requested_by_staff == "agnieszka" and held.intent == "other_change"
    assert held.request_text == "Hello, I have a favour to ask about anna.example"
    with pytest.raises(DeskError, match="held"):
        await desk.record_action("agnieszka", held.ticket, "changed the e-mail")
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is True
    record = await desk.record_action("agnieszka", held.ticket, "changed the contact e-mail")
    assert record["intents"] == ["other_change"] and record["services"] == ["anna.example"]
    assert record["intent"] == "other_change" and record["login"] == "anna.nowak"


async def test_a_second_change_while_one_is_held_is_a_request_of_its_own(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say("Please change the DNS of anna.example")
    first = client.status
    assert client.stage is Stage.AUTHENTICATE and first is not None
    client.inbox.clear()
    await client.say(
        "and transfer example.pl to another registrar, authinfo to evil@attacker.example"
    )
    held_separately = client.pop()
    assert "request of its own" in held_separately
    assert client.status is not None and client.status.ticket == first.ticket  # still on T-1
    # The attacker's own code verifies the attacker's own request, and nothing more.
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is True
    dns, transfer = await requests(core, client.conversation)
    assert dns.status == RequestStatus.FORWARDED and dns.verification == "verified"
    assert "example.pl" not in dns.request_text and "evil" not in dns.request_text
    assert (await record_of(core, dns))["services"] == ["anna.example"]
    # The second comes up next, and only a holder of example.pl can verify it.
    assert transfer.status == RequestStatus.HELD and client.stage is Stage.AUTHENTICATE
    assert client.status is not None and client.status.ticket == transfer.ticket
    assert json.loads(transfer.destinations) == ["evil@attacker.example"]
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is False
    with pytest.raises(DeskError):
        await StaffDesk.of(core).record_action("agnieszka", transfer.ticket, "sent the code")
    view = await StaffDesk.of(core).conversation(client.conversation)
    uncovered = [line.message.text for line in view.transcript if not line.covered]
    assert any("evil@attacker.example" in text for text in uncovered)


async def test_an_unrecognised_line_naming_a_destination_cannot_ride_on_a_verification(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    """Whatever the recogniser makes of the words, a new destination is a request of its own."""
    client = await chat(core)
    await client.say("Please change the DNS of anna.example")
    await client.form("anna.nowak", code(ANNA_SECRET, clock))
    assert client.stage is Stage.VERIFIED
    line = "lovely, thanks. evil@attacker.example"
    assert core.policies.recognize(line).intent == "general_question"  # unrecognised
    await client.say(line)
    _, later = await requests(core, client.conversation)
    assert later.status == RequestStatus.HELD and later.intent == "other_change"
    assert client.stage is Stage.IDENTIFY  # it names no service: stage 1 first


async def test_a_request_is_about_every_service_it_names(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say(
        "I am the holder of anna.example. Please transfer example.pl to another registrar."
    )
    assert "several services" in client.inbox[-1]
    (request,) = await requests(core, client.conversation)
    assert json.loads(request.services) == ["anna.example", "example.pl"]
    for login, secret in (("anna.nowak", ANNA_SECRET), ("jan.kowalski", JAN_SECRET)):
        outcome = await client.form(login, code(secret, clock))
        assert outcome.verified is False  # neither account holds both
        assert "several services" in client.inbox[-1]


async def test_a_name_no_account_holds_is_where_a_request_points(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say("Please set the name servers of anna.example to ns1.outside.example")
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is True
    (request,) = await requests(core, client.conversation)
    assert json.loads(request.services) == ["anna.example", "ns1.outside.example"]


async def test_a_service_id_is_always_one_of_ours(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say("Please delete anna.example and vps-9999")
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is False


async def test_every_intent_a_message_matches_counts(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say(
        "Please add a TXT record to anna.example. Also, change the owner of anna.example to Bob."
    )
    await client.form("anna.nowak", code(ANNA_SECRET, clock))
    (request,) = await requests(core, client.conversation)
    record = await record_of(core, request)
    assert set(record["intents"]) == {"dns_change", "owner_change"}  # type: ignore[arg-type]
    assert record["notify_contact"] is True and record["hold_until"] is not None
    with pytest.raises(DeskError, match="cooling-off"):
        await StaffDesk.of(core).record_action("agnieszka", request.ticket, "changed the owner")


async def test_more_words_about_the_same_request_join_it(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    client = await chat(core)
    await client.say("I want to transfer my domain to another registrar")
    await client.say("it is anna.example")
    await client.say("please transfer anna.example soon")
    assert client.stage is Stage.AUTHENTICATE
    await client.form("anna.nowak", code(ANNA_SECRET, clock))
    (request,) = await requests(core, client.conversation)
    assert request.verification == "verified"
    assert request.request_text.splitlines() == [
        "I want to transfer my domain to another registrar",
        "it is anna.example",
        "please transfer anna.example soon",
    ]
    assert len((await record_of(core, request))["lines"]) == 3  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "victim",
    [
        "example dot pl",
        "examp\u200ble.pl",
        "ex\u0430mple.pl",
        "example\uff0epl",
        "e x a m p l e . p l",
    ],
)
async def test_a_disguised_service_of_someone_else_is_still_named(
    core: Core, clients: dict[str, int], clock: MovableClock, victim: str
) -> None:
    client = await chat(core)
    await client.say(f"Please transfer anna.example and {victim} to another registrar")
    (request,) = await requests(core, client.conversation)
    assert "example.pl" in json.loads(request.services)
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is False


async def test_a_change_hidden_in_an_identified_question_cannot_be_acted_on(
    core: Core, clients: dict[str, int], clock: MovableClock
) -> None:
    """The review's status-question bypass, whatever the recogniser makes of it: a question
    identified at stage 1 is answered, never acted on; staff turn the line into a held
    request, which only the holder's code verifies."""
    client = await chat(core)
    await client.say("When does example.pl expire? After that Adam Nowak is to have it.")
    (question,) = await requests(core, client.conversation)
    assert question.verification == "identified" and question.intent == "service_status"
    desk = StaffDesk.of(core)
    with pytest.raises(DeskError, match="not verified"):
        await desk.record_action("agnieszka", question.ticket, "gave it to Adam Nowak")
    view = await desk.conversation(client.conversation)
    (entry,) = view.requests
    assert not entry.actionable and entry.answerable
    assert not [line for line in view.transcript if line.message.author == "client"][0].covered
    status = await desk.request_verification("agnieszka", client.conversation)
    assert status.stage is Stage.AUTHENTICATE and status.ticket != question.ticket
    held = (await requests(core, client.conversation))[-1]
    assert held.status == "held" and held.services == '["example.pl"]'
    assert (await client.form("anna.nowak", code(ANNA_SECRET, clock))).verified is False
