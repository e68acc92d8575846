"""Two gateway nodes, separate processes on one PostgreSQL and one Redis: every promise of the
contract holds whichever node a client, a staff member or a mail reaches."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import pyotp

from tests.cluster.conftest import STAFF_MAILBOX, STAFF_PASSWORD, SUPPORT, Cluster
from tests.conftest import MovableClock
from tests.live import ChatClient
from tests.metrics import scrape, value
from tests.staff.console_http import StaffFeed, StaffHttp
from tests.staff.flows import verified_request

CHANGE_DNS = "Please change the DNS of example.pl"


async def test_a_client_on_node_1_and_staff_on_node_2_talk(cluster: Cluster) -> None:
    node1, node2 = cluster.nodes
    visitor = await ChatClient(node1.url).connect()
    staff = StaffHttp.open(node2.url)
    try:
        code = pyotp.TOTP(cluster.staff_totp_secret).now()
        assert (await staff.login("alice", STAFF_PASSWORD, code)).status == 303
        feed = await StaffFeed(node2.url, staff.session_cookie).connect()
        ticket = await verified_request(visitor, MovableClock())
        await feed.wait_for(lambda: any(r["ticket"] == ticket for r in feed.of("request")))

        await visitor.say("The new registrar is Example Registrar Ltd")
        await feed.wait_for(
            lambda: any("Example Registrar" in m["message"]["text"] for m in feed.of("message"))
        )
        page = f"/staff/conversations/{visitor.status['conversation']}"
        await staff.submit(f"{page}/reply", page, text="Alice here, on the other node.")
        await visitor.wait_for(lambda: "Alice here, on the other node." in visitor.texts("staff"))

        # Staff on node 2 start a verification: node 1 must not go on treating the client's
        # lines as notes for staff on what it last knew of the stage.
        token = visitor.status["token"]
        await staff.submit(f"{page}/verification", page)
        await visitor.wait_for(lambda: visitor.status["stage"] == "identify")
        assert visitor.status["token"] == token  # the one node 1 gave: resume still works
        await visitor.say("example.pl")
        await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
        await feed.close()
    finally:
        await staff.close()
        await visitor.close()


async def test_codes_and_lockouts_hold_across_nodes(cluster: Cluster) -> None:
    node1, node2 = cluster.nodes
    first = await ChatClient(node1.url).connect()
    second = await ChatClient(node2.url).connect()
    try:
        for visitor in (first, second):
            await visitor.say(CHANGE_DNS)
            await visitor.wait_for(lambda v=visitor: v.status["stage"] == "authenticate")
        code = await cluster.panel_code(node2, "jan.kowalski")
        assert await first.credentials("jan.kowalski", code) == {"ok": True}
        assert await second.credentials("jan.kowalski", code) == {"ok": False}
        assert second.status["stage"] == "authenticate"
    finally:
        await first.close()
        await second.close()

    # Five failures for one account, three on node 1 and two on node 2, lock it everywhere.
    visitors = [await ChatClient(node.url).connect() for node in (node1, node2, node1)]
    try:
        for visitor in visitors:
            await visitor.say("Please change the DNS of anna.example")
            await visitor.wait_for(lambda v=visitor: v.status["stage"] == "authenticate")
        for visitor, attempts in ((visitors[0], 3), (visitors[1], 2)):
            for attempt in range(attempts):
                answer = await visitor.credentials("anna.nowak", f"{100000 + attempt}")
                assert answer == {"ok": False}
        right = await cluster.panel_code(node2, "anna.nowak")
        assert await visitors[2].credentials("anna.nowak", right) == {"ok": False}
        await _eventually(lambda: cluster.mail_to("anna@example.com"))
    finally:
        for visitor in visitors:
            await visitor.close()


async def test_a_burst_through_both_nodes_reaches_staff_exactly_once(cluster: Cluster) -> None:
    burst = 200
    codes = [await cluster.panel_code(cluster.nodes[n % 2], "jan.kowalski") for n in range(burst)]

    async def send(n: int) -> None:
        node = cluster.nodes[n % 2]
        body = f"{CHANGE_DNS}.\r\n\r\nLogin: jan.kowalski\r\nCode: {codes[n]}\r\n"
        message = (
            f"From: jan@example.com\r\nTo: {SUPPORT}\r\nSubject: DNS {n}\r\n"
            f"Message-ID: <burst-{n}@example.com>\r\n\r\n{body}"
        )
        await aiosmtplib.send(
            message,
            sender="jan@example.com",
            recipients=[SUPPORT],
            port=node.smtp_port,
            hostname="127.0.0.1",
            start_tls=False,
        )

    for start in range(0, burst, 20):
        await asyncio.gather(*(send(n) for n in range(start, min(start + 20, burst))))
    await _eventually(lambda: len(cluster.mail_to(STAFF_MAILBOX)) >= burst, timeout=120)
    await _eventually(lambda: len(cluster.webhook.deliveries) >= burst, timeout=60)
    await asyncio.sleep(2)  # a second delivery of anything would have arrived by now

    tickets = [m["X-Gateway-Ticket"] for m in cluster.mail_to(STAFF_MAILBOX)]
    assert len(tickets) == burst and len(set(tickets)) == burst
    hooks = cluster.webhook.deliveries
    assert len(hooks) == burst
    assert len({delivery for delivery, _ in hooks}) == burst
    assert {record["ticket"] for _, record in hooks} == set(tickets)
    assert all(record["verification"] == "verified" for _, record in hooks)
    for node in cluster.nodes:  # both nodes took part
        assert value(
            await scrape(node.metrics_url), "gateway_mail_processed_total", outcome="verified"
        )

    report = await cluster.cli("audit", "verify")
    assert report.startswith("ok ") and int(report.split()[1]) >= burst


async def test_sigterm_hands_the_chat_to_the_other_node(cluster: Cluster) -> None:
    node1, node2 = cluster.nodes
    visitor = await ChatClient(node1.url).connect()
    await visitor.say("What are your opening hours?")
    await visitor.wait_for(lambda: len(visitor.texts("bot")) >= 2)
    conversation, token = visitor.status["conversation"], visitor.status["token"]

    stopping = asyncio.create_task(asyncio.to_thread(node1.terminate))
    seen = set()
    while not stopping.done():
        seen.add(await asyncio.to_thread(node1.ready))
        await asyncio.sleep(0.02)
    code, seconds = await stopping
    assert code == 0 and seconds < 10
    assert 503 in seen  # not ready while draining, before it stopped listening
    await visitor.wait_for(lambda: not visitor.sio.connected)
    await visitor.close()

    auth = {"conversation": conversation, "token": token}
    resumed = await ChatClient(node2.url, auth=auth).connect()
    try:
        assert "What are your opening hours?" in resumed.texts("client")
        assert (await resumed.say("Thanks!")).get("id")
    finally:
        await resumed.close()


async def _eventually(condition, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_two_nodes_approving_one_challenge_at_once_one_wins(cluster: Cluster) -> None:
    """Contract section 11: the challenge is decided once, by compare-and-set, whichever nodes
    the panel's calls reach; the verified status reaches the client's node live."""
    import aiohttp

    from tests.cluster.conftest import PANEL_KEY

    node1, node2 = cluster.nodes
    auth = {"Authorization": f"Bearer {PANEL_KEY}"}
    visitor = await ChatClient(node1.url).connect()
    try:
        await visitor.say("Please transfer example.pl to another registrar")
        await visitor.wait_for(lambda: "approval" in visitor.status)
        number = visitor.status["approval"]["number"]
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{node2.url}/api/panel/approvals", params={"login": "jan.kowalski"}, headers=auth
            ) as listed:
                [offer] = (await listed.json())["approvals"]

            async def approve(url: str) -> int:
                body = {"login": "jan.kowalski", "decision": "approve", "number": number}
                async with http.post(
                    f"{url}/api/panel/approvals/{offer['id']}", json=body, headers=auth
                ) as answer:
                    return answer.status

            statuses = await asyncio.gather(*(approve(n.url) for n in (node1, node2) * 3))
        assert sorted(statuses) == [200, 410, 410, 410, 410, 410]
        await visitor.wait_for(lambda: visitor.status["stage"] == "verified", timeout=15)
    finally:
        await visitor.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not cluster.webhook.deliveries:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    verified = [b for _, b in cluster.webhook.deliveries if b.get("verification") == "verified"]
    assert len(verified) == 1 and verified[0]["method"] == "panel_approval"
