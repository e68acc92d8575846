"""Contract section 11 end to end on the chat: a real socket.io client asks, the Client Panel
(its server, over HTTP) approves or denies, staff see only what the holder approved."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default

from sqlalchemy import select

from gateway.storage.models import Account, AuditRecord, OutboxItem
from tests.approvals.panel import approvals, approve, deny, other_number
from tests.chat.conftest import staff_deliveries
from tests.conftest import MovableClock
from tests.live import ChatClient, LiveGateway

TRANSFER = "Please transfer example.pl to another registrar"


async def held_for_approval(gateway: LiveGateway, text: str = TRANSFER) -> ChatClient:
    visitor = await ChatClient(gateway.url).connect()
    await visitor.say(text)
    await visitor.wait_for(lambda: "approval" in visitor.status)
    assert visitor.status["stage"] == "authenticate"
    return visitor


async def listed(gateway: LiveGateway, login: str = "jan.kowalski") -> list[dict]:  # type: ignore[type-arg]
    status, body = await approvals(gateway.url, login)
    assert status == 200
    return body["approvals"]  # type: ignore[no-any-return]


async def records(gateway: LiveGateway, kind: str) -> list[dict]:  # type: ignore[type-arg]
    async with gateway.core.sessions() as session:
        rows = await session.scalars(select(AuditRecord).where(AuditRecord.kind == kind))
        return [json.loads(row.body) for row in rows]


async def test_the_right_number_verifies_the_request_live(gateway: LiveGateway) -> None:
    visitor = await held_for_approval(gateway)
    try:
        number = visitor.status["approval"]["number"]
        assert len(number) == 2 and number.isdigit()
        [offer] = await listed(gateway)
        assert offer["ticket"] == visitor.status["ticket"] and offer["channel"] == "chat"
        assert "example.pl" in offer["description"] and "rejestrator" in offer["description"]
        assert "number" not in offer and number not in json.dumps(offer).replace(
            offer["requested_at"], ""
        ).replace(offer["expires_at"], "").replace(offer["id"], "")
        assert offer["requester"]["channel"] == "chat"
        assert await approve(gateway.url, offer["id"], "jan.kowalski", number) == (
            200,
            {"status": "approved"},
        )
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        assert "approval" not in visitor.status
        assert any("verified" in text for text in visitor.texts())
    finally:
        await visitor.close()
    [record] = await records(gateway, "verification")
    assert record["method"] == "panel_approval" and record["login"] == "jan.kowalski"
    assert record["challenge"] == offer["id"] and len(record["description_sha256"]) == 64
    delivered = await staff_deliveries(gateway)
    assert sorted(item.kind for item in delivered) == ["mail", "webhook"]
    # Single use: the same approval again finds nothing open.
    status, _ = await approve(gateway.url, offer["id"], "jan.kowalski", number)
    assert status == 410
    assert await listed(gateway) == []


async def test_a_wrong_number_is_refused_and_three_void_the_challenge(
    gateway: LiveGateway,
) -> None:
    visitor = await held_for_approval(gateway)
    try:
        number = visitor.status["approval"]["number"]
        [offer] = await listed(gateway)
        wrong = other_number(number)
        for left in (2, 1, 0):
            assert await approve(gateway.url, offer["id"], "jan.kowalski", wrong) == (
                409,
                {"status": "wrong_number", "attempts_left": left},
            )
        # Void: even the right number no longer approves it, and the request stays held.
        status, _ = await approve(gateway.url, offer["id"], "jan.kowalski", number)
        assert status == 410
        assert await listed(gateway) == []
        await visitor.say("is it done yet?")
        await visitor.wait_for(lambda: len(visitor.texts()) >= 3)
        assert visitor.status["stage"] == "authenticate" and "approval" not in visitor.status
    finally:
        await visitor.close()
    assert await staff_deliveries(gateway) == []
    async with gateway.core.sessions() as session:
        jan = await session.scalar(select(Account).where(Account.login == "jan.kowalski"))
        assert jan is not None and jan.failed_attempts == 3


async def test_an_expired_challenge_is_gone(gateway: LiveGateway, clock: MovableClock) -> None:
    visitor = await held_for_approval(gateway)
    try:
        number = visitor.status["approval"]["number"]
        [offer] = await listed(gateway)
        clock.advance(seconds=301)
        assert await listed(gateway) == []
        status, body = await approve(gateway.url, offer["id"], "jan.kowalski", number)
        assert (status, body) == (410, {"status": "expired"})
    finally:
        await visitor.close()
    assert await staff_deliveries(gateway) == []


async def test_another_login_cannot_see_or_approve_it(gateway: LiveGateway) -> None:
    visitor = await held_for_approval(gateway)
    try:
        number = visitor.status["approval"]["number"]
        [offer] = await listed(gateway)
        assert await listed(gateway, "anna.nowak") == []
        status, _ = await approve(gateway.url, offer["id"], "anna.nowak", number)
        assert status == 404
        status, _ = await approve(gateway.url, "A" * 22, "jan.kowalski", number)
        assert status == 404
        status, _ = await deny(gateway.url, offer["id"], "anna.nowak")
        assert status == 404
        assert (await approvals(gateway.url, "nobody.here"))[0] == 404
        import aiohttp

        from tests.approvals.panel import AUTH

        twice = f"{gateway.url}/api/panel/approvals?login=jan.kowalski&login=anna.nowak"
        async with aiohttp.ClientSession() as http, http.get(twice, headers=AUTH) as answer:
            assert answer.status == 400
        assert (await approvals(gateway.url, "jan.kowalski", key="wrong"))[0] == 401
    finally:
        await visitor.close()
    assert await staff_deliveries(gateway) == []


async def test_deny_cancels_locks_and_tells_staff_and_the_contact(gateway: LiveGateway) -> None:
    visitor = await held_for_approval(gateway)
    try:
        ticket = visitor.status["ticket"]
        [offer] = await listed(gateway)
        assert await deny(gateway.url, offer["id"], "jan.kowalski") == (200, {"status": "denied"})
        await visitor.wait_for(lambda: visitor.status["stage"] == "locked")
        assert any("stopped" in text for text in visitor.texts())
        # Nothing can be verified in this conversation any more.
        await visitor.say("transfer example.pl now please")
    finally:
        await visitor.close()
    [denial] = await records(gateway, "denial")
    assert denial["verification"] == "denied_by_client" and denial["ticket"] == ticket
    assert await records(gateway, "verification") == []
    delivered = await staff_deliveries(gateway)
    assert sorted(item.kind for item in delivered) == ["mail", "webhook"]
    staff_mail = message_from_bytes(next(i.payload for i in delivered if i.kind == "mail"))
    assert staff_mail["X-Gateway-Verification"] == "denied-by-client"
    webhook = json.loads(next(i.payload for i in delivered if i.kind == "webhook"))
    assert webhook["verification"] == "denied_by_client"
    async with gateway.core.sessions() as session:
        items = (await session.scalars(select(OutboxItem))).all()
    contact = [i for i in items if "jan@example.com" in i.destination]
    notice = message_from_bytes(contact[-1].payload, policy=default)
    assert notice["Subject"].startswith(f"[{ticket}]") and "wstrzymane" in notice.get_content()
    # Staff cannot record an action on it.
    from gateway.pipeline.model import RecordAction

    outcome = await gateway.core.pipeline.handle(
        RecordAction("anna", denial["conversation"], ticket, "transferred")
    )
    assert outcome.error is not None and outcome.record is None


async def test_two_requesters_at_once_for_one_account_can_approve_neither(
    gateway: LiveGateway,
) -> None:
    """helper-17: a newer request that took the older one's place in the panel let a holder
    type the number they were shown into a stranger's identical card, and numbers drawn
    unlike the others told which names were one client's. Now two requests for one account
    at once are both contested: listed for nobody, approved by no number, until they expire;
    each requester still sees a number of its own, and codes still verify."""
    from gateway.approvals.challenges import ChallengeStatus
    from gateway.codes.totp import totp_for
    from gateway.storage.models import ApprovalChallenge
    from tests.gateway.conftest import JAN_SECRET

    first = await held_for_approval(gateway)
    second = await held_for_approval(gateway, "please delete my server vps-1234")
    try:
        assert "approval" in first.status and "approval" in second.status
        assert await listed(gateway) == []
        async with gateway.core.sessions() as session:
            query = select(ApprovalChallenge).order_by(ApprovalChallenge.id)
            rows = (await session.scalars(query)).all()
        assert {row.status for row in rows} == {ChallengeStatus.CONTESTED}
        for row in rows:
            for number in {row.number, first.status["approval"]["number"]}:
                status, _ = await approve(gateway.url, row.public_id, "jan.kowalski", number)
                assert status == 410
        async with gateway.core.sessions() as session:
            jan = await session.scalar(select(Account).where(Account.login == "jan.kowalski"))
            assert jan is not None and jan.failed_attempts == 0
        # The holder may still say "not me" to either, and a code still verifies the other.
        assert (await deny(gateway.url, rows[1].public_id, "jan.kowalski"))[0] == 200
        await second.wait_for(lambda: second.status["stage"] == "locked")
        code = totp_for(JAN_SECRET).at(gateway.core.clock.now())
        assert await first.credentials("jan.kowalski", code) == {"ok": True}
    finally:
        await first.close()
        await second.close()


async def resumed_status(gateway: LiveGateway, status: dict) -> dict:  # type: ignore[type-arg]
    again = await ChatClient(
        gateway.url, auth={"conversation": status["conversation"], "token": status["token"]}
    ).connect()
    try:
        return again.status
    finally:
        await again.close()


async def test_what_one_conversation_shows_does_not_tell_what_another_named(
    gateway: LiveGateway,
) -> None:
    """helper-16's oracle: a second conversation naming the same account replaced the first's
    challenge, and the first's status (live or resumed) then told that both names were one
    client's. Now the first shows the same, whoever the second names."""
    seen = {}
    for first_text, second_text in (
        (TRANSFER, "please delete my server vps-1234"),  # one client's two services
        (TRANSFER, "Please transfer nobody-holds-this.pl away"),  # a client, then nobody
        ("Please transfer nobody-a.pl away", "Please transfer nobody-a.pl away"),  # nobody twice
    ):
        first = await held_for_approval(gateway, first_text)
        before = dict(first.status)
        second = await held_for_approval(gateway, second_text)
        await first.say("is it done yet?")
        await first.wait_for(lambda first=first: len(first.texts()) >= 3)
        after = dict(first.status)
        resumed = await resumed_status(gateway, before)
        await first.close()
        await second.close()
        seen[second_text] = (
            after.get("approval") == before.get("approval"),
            resumed.get("approval") == before.get("approval"),
        )
    assert set(seen.values()) == {(True, True)}


async def test_a_requester_cannot_churn_prompts(gateway: LiveGateway) -> None:
    """So many challenges per chat address an hour, whatever they name: then codes only."""
    from gateway.pipeline.holding import OFFERS_PER_REQUESTER

    for _ in range(OFFERS_PER_REQUESTER):
        visitor = await held_for_approval(gateway, "Please transfer nobody-holds-this.pl away")
        await visitor.close()
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say(TRANSFER)
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        assert "approval" not in visitor.status
        assert await listed(gateway) == []
    finally:
        await visitor.close()


async def test_half_a_utf16_pair_is_taken_not_failed(gateway: LiveGateway) -> None:
    visitor = await ChatClient(gateway.url).connect()
    try:
        ack = await visitor.say("hello \ud800 there")
        assert isinstance(ack.get("id"), int), ack
    finally:
        await visitor.close()


async def test_a_code_still_verifies_and_closes_the_challenge(
    gateway: LiveGateway, clock: MovableClock
) -> None:
    from gateway.codes.totp import totp_for
    from tests.gateway.conftest import JAN_SECRET

    visitor = await held_for_approval(gateway)
    try:
        number = visitor.status["approval"]["number"]
        [offer] = await listed(gateway)
        code = totp_for(JAN_SECRET).at(clock.now())
        assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
        status, _ = await approve(gateway.url, offer["id"], "jan.kowalski", number)
        assert status == 410
    finally:
        await visitor.close()


async def test_no_account_holds_it_a_number_all_the_same(gateway: LiveGateway) -> None:
    """No oracle: a service nobody holds gets a number too, and nothing anyone can approve."""
    visitor = await held_for_approval(gateway, "Please transfer nobody-holds-this.pl away")
    try:
        assert visitor.status["approval"]["number"].isdigit()
        assert await listed(gateway) == [] and await listed(gateway, "anna.nowak") == []
    finally:
        await visitor.close()


async def test_more_words_about_the_request_replace_the_number_shown(
    gateway: LiveGateway,
) -> None:
    """What the holder would approve changed after the number was shown: that challenge
    approves nothing; the new one carries the new words."""
    visitor = await held_for_approval(gateway)
    try:
        [before] = await listed(gateway)
        old_number = visitor.status["approval"]["number"]
        await visitor.say("Please transfer example.pl to another registrar, it is urgent")
        await visitor.wait_for(lambda: len(visitor.texts()) >= 3)
        [after] = await listed(gateway)
        assert after["id"] != before["id"] and "urgent" in after["request_text"]
        status, _ = await approve(gateway.url, before["id"], "jan.kowalski", old_number)
        assert status == 410
        number = visitor.status["approval"]["number"]
        assert await approve(gateway.url, after["id"], "jan.kowalski", number) == (
            200,
            {"status": "approved"},
        )
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
    finally:
        await visitor.close()
    [record] = await records(gateway, "verification")
    assert record["challenge"] == after["id"]
    [webhook] = [i for i in await staff_deliveries(gateway) if i.kind == "webhook"]
    assert "urgent" in json.loads(webhook.payload)["request_text"]


async def test_a_conversation_naming_another_account_cannot_be_approved_by_either(
    gateway: LiveGateway,
) -> None:
    """The same rule as for codes: a conversation that names another account's service is
    verified by neither account's approval."""
    visitor = await ChatClient(gateway.url).connect()
    try:
        await visitor.say("My other shop is sklep-anny.pl, by the way")
        await visitor.wait_for(lambda: len(visitor.texts()) >= 2)
        await visitor.say(TRANSFER)
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        assert await listed(gateway) == [] and await listed(gateway, "anna.nowak") == []
        assert "approval" in visitor.status  # a number all the same: no oracle
    finally:
        await visitor.close()
    assert all(r["verification"] != "verified" for r in await records(gateway, "verification"))
