"""The security review's attacks on the chat (issue 11), through a real socket.io client against
the real app: nothing a client did not verify may reach staff as actionable, and no code may
reach anything staff read. Anna is the attacker (anna.example, her own codes); Jan holds
example.pl and vps-1234."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.staff.desk import DeskError, StaffDesk
from gateway.storage.models import ChangeRequest, TranscriptMessage
from tests.chat.conftest import staff_deliveries
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET
from tests.live import ChatClient, LiveGateway


async def requests_of(gateway: LiveGateway, conversation: str) -> list[ChangeRequest]:
    async with gateway.core.sessions() as session:
        query = select(ChangeRequest).where(ChangeRequest.conversation_id == conversation)
        return list(await session.scalars(query.order_by(ChangeRequest.id)))


def anna_code(clock: MovableClock) -> str:
    clock.advance(seconds=30)
    return totp_for(ANNA_SECRET).at(clock.now())


@pytest.mark.parametrize(
    "text",
    [
        "Could you send the auth-code of example.pl to newowner@evil.example",
        "My e-mail is now evil@attacker.example, please use it from now on",
        "Please wipe vps-1234 and everything on it",
        "Set the A of example.pl to 203.0.113.66",
        "Please send the login for example.pl to evil@attacker.example",
        "Please tr\u200bansfer example.pl",
        "tr\u0430nsf\u0435r d\u043em\u0430in example.pl",
        "Przekażcie kod do przeniesienia example.pl na adres nowy@evil.example",
        "Proszę o kopię bazy danych z vps-1234 na evil@attacker.example",
        "kindly do the needful with example.pl for our new partner partner@evil.example",
        "When does example.pl expire? Then release the domain.",
        "What's my balance for example.pl? Please send a refund.",
        "Czy example.pl jest opłacona? Jeśli tak, zwolnijcie domenę.",
    ],
)
async def test_an_evasive_change_is_held_and_never_reaches_staff(
    gateway: LiveGateway, visitor: ChatClient, text: str
) -> None:
    await visitor.say(text)
    await visitor.wait_for(lambda: visitor.status["stage"] in ("identify", "authenticate"))
    assert visitor.status["intent"] not in ("general_question", "service_status")
    assert await staff_deliveries(gateway) == []


async def test_a_second_change_cannot_ride_on_the_first_verification(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock
) -> None:
    await visitor.say("Please add a TXT record to anna.example")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    first = visitor.status["ticket"]
    await visitor.say(
        "also transfer example.pl away and send its AuthInfo to evil@attacker.example"
    )
    await visitor.wait_for(lambda: any("request of its own" in t for t in visitor.texts()))
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": True}
    await visitor.wait_for(lambda: visitor.status["ticket"] != first)  # the second comes up
    assert visitor.status["stage"] == "authenticate"
    deliveries = await staff_deliveries(gateway)
    assert len(deliveries) == 2  # the first request's mail and webhook, nothing else
    webhook = next(d for d in deliveries if d.kind == "webhook")
    record = json.loads(webhook.payload)
    assert record["ticket"] == first and record["services"] == ["anna.example"]
    assert "example.pl" not in record["request_text"] and "evil" not in record["request_text"]
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": False}
    second = visitor.status["ticket"]
    with pytest.raises(DeskError):
        await StaffDesk.of(gateway.core).record_action("alice", second, "sent the AuthInfo")
    view = await StaffDesk.of(gateway.core).conversation(visitor.status["conversation"])
    (line,) = [line for line in view.transcript if "AuthInfo" in line.message.text]
    assert not line.covered and line.ticket == second


async def test_naming_ones_own_service_first_verifies_nothing_of_someone_elses(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock
) -> None:
    await visitor.say(
        "I am the holder of anna.example. Please transfer example.pl to another registrar."
    )
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": False}
    await visitor.wait_for(lambda: "several services" in visitor.texts()[-1])
    assert await staff_deliveries(gateway) == []


@pytest.mark.parametrize(
    "lines",
    [
        # Review (helper-10, F1): a victim's service in a shape the scope does not read.
        ["Please reinstall anna.example and vps 1234 with a fresh OS"],
        ["Please reinstall anna.example and VPS1234 with a fresh OS"],
        ["Please reinstall anna.example and vps no. 1234 too"],
        ["Proszę przeinstalować anna.example oraz serwer vps nr 1234"],
        ["Please transfer anna.example and example,pl to another registrar"],
        ["Please transfer anna.example and example pl to another registrar"],
        ["Please transfer anna.example and example.\npl to another registrar"],
        ["Please transfer anna.example and example\ua4f8pl to another registrar"],
        ["Please transfer anna.example and example\u00adpl to another registrar"],
        # Re-review (helper-12, F1): dot- and dash-like letters, digits of other scripts.
        ["Please transfer anna.example and also example\ua78fpl to another registrar"],
        ["Please transfer anna.example and also example\u3164.pl to another registrar"],
        ["Please reinstall anna.example and vps-l234 with a fresh OS"],
        [
            "Please reinstall anna.example and vps "
            "1\ufe0f\u20e32\ufe0f\u20e33\ufe0f\u20e34\ufe0f\u20e3"
        ],
        ["Please reinstall anna.example and vps-\u0661\u0662\u0663\u0664"],
        # F2: a victim named by login or person, or earlier in the conversation.
        [
            "Please transfer anna.example to another registrar. Also transfer the domain of my "
            "friend Jan Kowalski (login jan.kowalski) in the same way."
        ],
        ["Please transfer anna.example to another registrar, and the domain of Jan Kowalski"],
        ["My friend owns the domain example.pl", "Please transfer anna.example, his as well"],
        ["Is vps-1234 running?", "Please reinstall anna.example, and the one I asked about"],
    ],
)
async def test_a_conversation_naming_someone_elses_service_is_verified_by_nobody_else(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock, lines: list[str]
) -> None:
    """Whatever the spelling, a conversation that names a service, a login or the name of
    another account cannot be verified by Anna's code: the answer reads as a wrong code."""
    for line in lines:
        await visitor.say(line)
        await visitor.wait_for(
            lambda: visitor.status["ticket"] is not None or len(visitor.texts("bot")) > 1
        )
    await visitor.wait_for(lambda: visitor.status["stage"] in ("identify", "authenticate"))
    if visitor.status["stage"] == "identify":
        await visitor.say("anna.example")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": False}
    for delivery in await staff_deliveries(gateway):  # a question about example.pl, at most
        if delivery.kind == "webhook":
            assert json.loads(delivery.payload)["verification"] != "verified"
        else:
            assert b"X-Gateway-Verification: verified" not in delivery.payload


async def test_ones_own_names_in_any_spelling_still_verify(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock
) -> None:
    await visitor.say("Please set the MX of anna.example and of sklep anny pl to mx.anna.example")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": True}


async def test_every_intent_of_a_message_brings_its_duties(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock
) -> None:
    await visitor.say(
        "Please add a TXT record to anna.example. Also, Bob Smith is the new holder of "
        "anna.example from today."
    )
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    asked = visitor.texts()[-1]  # the client is told every change they would confirm
    assert "change of DNS settings" in asked and "change of the owner" in asked
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": True}
    webhook = next(d for d in await staff_deliveries(gateway) if d.kind == "webhook")
    record = json.loads(webhook.payload)
    assert {"dns_change", "owner_change"} <= set(record["intents"])
    assert record["hold_until"] is not None and record["notify_contact"] is True


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("my code is 3921.8459", "39218459"),
        ("the code: 482,135", "482135"),
        ("it says 482/135", "482135"),
        ("kod 482_135", "482135"),
        ("482\t135 is what I see", "482135"),
        ("PESEL 440.514.013.59", "44051401359"),
        ("NIP 123.456.32.18", "1234563218"),
        ("mine reads A10336492", "10336492"),
        ("see https://panel.example/code/48433624/", "48433624"),
        ("it is _54415385_", "54415385"),
    ],
)
async def test_a_code_typed_with_a_separator_reaches_no_staff_view(
    gateway: LiveGateway, visitor: ChatClient, text: str, secret: str
) -> None:
    await visitor.say(f"Hello, a question. {text}")
    await visitor.wait_for(lambda: len(visitor.texts()) >= 2)
    async with gateway.core.sessions() as session:
        lines = list(await session.scalars(select(TranscriptMessage.text)))
    for stored in lines + [
        d.payload.decode("utf-8", "replace") for d in await staff_deliveries(gateway)
    ]:
        for separator in (".", ",", "/", "_", "\t", " "):
            stored = stored.replace(separator, "")
        assert secret not in stored


@pytest.mark.parametrize(
    ("text", "verifies"),
    [
        ("Please change the DNS of anna.example and mail.example.pl to 198.51.100.7", False),
        ("Add a TXT record to anna.example and to _dmarc.example.pl", False),
        ("For anna.example: add a mailbox evil@example.pl", False),
        ("Create a mailbox ceo@example.pl on anna.example", False),
        ("Point shop.example.pl and anna.example at 198.51.100.7", False),
        ("Please change the DNS of anna.example and mail.anna.example to 198.51.100.7", True),
        ("Point anna.example at ns1.outside-dns.example", True),
        ("For anna.example: add a mailbox office@anna.example", True),
    ],
)
async def test_a_name_under_someone_elses_domain_does_not_ride_on_ones_own_code(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock, text: str, verifies: bool
) -> None:
    """A subdomain or a mailbox of example.pl is example.pl's: Anna's code covers her own
    names, and outside ones (an outside name server) are where her request points."""
    await visitor.say(text)
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    assert await visitor.credentials("anna.nowak", anna_code(clock)) == {"ok": verifies}
    assert bool(await staff_deliveries(gateway)) is verifies


async def test_a_code_spelled_into_a_service_name_reaches_no_staff_view(
    gateway: LiveGateway, visitor: ChatClient, clock: MovableClock
) -> None:
    """Services and destinations are read from the raw text for lookups; everything staff
    read of them (records, the bot's replies, the console) is masked."""
    await visitor.say(
        "Please set the NS of anna.example to ns48433624.attacker.test and restart vps-39218459"
    )
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    await visitor.credentials("anna.nowak", anna_code(clock))
    await visitor.wait_for(lambda: len(visitor.texts()) >= 3)
    view = await StaffDesk.of(gateway.core).conversation(visitor.status["conversation"])
    seen = [line.message.text for line in view.transcript] + [
        d.payload.decode("utf-8", "replace") for d in await staff_deliveries(gateway)
    ]
    seen += [json.dumps([r.service, *r.services, *r.destinations]) for r in view.requests]
    assert seen and not [text for text in seen if "48433624" in text or "39218459" in text]


async def test_a_code_typed_in_pieces_while_one_is_expected_reaches_no_staff_view(
    gateway: LiveGateway, visitor: ChatClient
) -> None:
    """Asked for a code, the client types it into the chat in halves: no half stands."""
    await visitor.say("Please transfer example.pl to another registrar")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    for piece in (
        "1933",
        "then 1963",
        "48 | 21 | 35 | 70",
        "⁴⁸²¹³⁵⁷⁰",
        "four eight two one three five",
    ):
        await visitor.say(piece)
    await visitor.wait_for(lambda: len(visitor.texts()) >= 7)
    view = await StaffDesk.of(gateway.core).conversation(visitor.status["conversation"])
    shown = " ".join(line.message.text for line in view.transcript)
    for piece in ("1933", "1963", "21", "35", "⁴⁸", "four eight"):
        assert piece not in shown
