"""Soak: two nodes on PostgreSQL and Redis for --duration (10 minutes by default) under 200 chat
clients and a steady stream of e-mail, one node killed (SIGKILL) in the middle and started
again. At the end: nothing a client was told was accepted is lost or stored twice, every
verified request reached the staff mailbox, the chain verifies; and each node's RSS over time,
which must be level once the node has warmed up (a leak fails the soak like a lost message).

Chat clients fail over as behind a load balancer: when their node dies they resume their
conversation on the other node with its token. Mail senders behave like an MTA with two MX
hosts: a refused connection or a lost reply is retried on the other node (a lost reply after
the mail was stored is the one case SMTP itself allows twice; it is counted apart).

Run: .venv/bin/python bench/soak.py [--duration 600] [--clients 200] [--mail-rate 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import socketio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procfs import rss_kb  # noqa: E402

from gateway.storage.models import (  # noqa: E402
    ChangeRequest,
    Conversation,
    OutboxItem,
    TranscriptMessage,
)
from tests.cluster.nodes import (  # noqa: E402
    POSTGRES_URL,
    Node,
    cluster_nodes,
    cluster_settings,
    postgres_database,
    run_cli,
)
from tests.smtp_sink import SmtpSink  # noqa: E402

SUPPORT, STAFF = "support@example.net", "staff@example.net"
WARM_UP = 120.0  # seconds of a phase before a node's RSS is judged: caches fill first
RSS_SLACK_MIB = 3  # what the allocator's ups and downs may add over a window without a leak
PANEL_KEY = secrets.token_urlsafe(24)
ACCOUNT = {"login": "jan.kowalski", "email": "jan@example.com", "services": ["example.pl"]}


@dataclass
class Tally:
    chat_acked: list[str] = field(default_factory=list)  # texts the gateway acknowledged
    chat_unacked: int = 0  # sent while a node died: outcome unknown to the client
    chat_failovers: int = 0
    chat_verified: int = 0
    mail_accepted: list[str] = field(default_factory=list)  # subjects answered 250
    mail_unknown: list[str] = field(default_factory=list)  # reply lost: maybe stored
    mail_refused: int = 0


class Visitor:
    """A website visitor whose browser reconnects, through the balancer, to a live node."""

    def __init__(self, number: int, nodes: list[Node], tally: Tally) -> None:
        self.number = number
        self.nodes = nodes
        self.tally = tally
        self.conversation: str | None = None
        self.token: str | None = None
        self.stage = ""
        self.client: socketio.AsyncClient | None = None

    async def connect(self) -> None:
        order = self.nodes[self.number % 2 :] + self.nodes[: self.number % 2]
        while True:
            for node in order:
                if node.process is None or node.process.poll() is not None:
                    continue
                client = socketio.AsyncClient(reconnection=False)
                client.on("status", self._on_status, namespace="/chat")
                auth = (
                    {"conversation": self.conversation, "token": self.token}
                    if self.token
                    else {"language": "en"}
                )
                try:
                    await client.connect(
                        node.url,
                        namespaces=["/chat"],
                        transports=["websocket"],
                        auth=auth,
                        wait_timeout=10,
                    )
                except Exception:  # noqa: BLE001 - dying or starting node: try the next
                    await client.disconnect()
                    continue
                self.client = client
                return
            await asyncio.sleep(0.5)

    async def _on_status(self, data: dict[str, Any]) -> None:
        self.conversation, self.stage = data["conversation"], data["stage"]
        self.token = data.get("token") or self.token

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        for _ in range(3):
            if self.client is None or not self.client.connected:
                if self.client is not None:
                    self.tally.chat_failovers += 1
                await self.connect()
            assert self.client is not None
            try:
                return await self.client.call(event, data, namespace="/chat", timeout=10)
            except Exception:  # noqa: BLE001 - the node died under us
                await self.client.disconnect()
                self.client = None
                return None
        return None

    async def say(self, text: str) -> None:
        ack = await self.call("message", {"text": text})
        if isinstance(ack, dict) and isinstance(ack.get("id"), int):
            self.tally.chat_acked.append(text)
        else:
            self.tally.chat_unacked += 1

    async def run(self, stop_at: float, interval: float, panel: PanelCodes) -> None:
        await asyncio.sleep(random.uniform(0, interval))  # noqa: S311
        await self.say(f"Hello, what are your opening hours? [v{self.number}-0]")
        if self.number % 10 == 0:  # one in ten asks for a change, verified with a panel code
            await self.say(f"Please change the DNS of example.pl [v{self.number}-dns]")
            ack = await self.call(
                "credentials", {"login": ACCOUNT["login"], "code": await panel.code()}
            )
            if isinstance(ack, dict) and ack.get("ok"):
                self.tally.chat_verified += 1
        for n in itertools.count(1):
            if time.monotonic() >= stop_at:
                break
            await self.say(f"One more thing about my invoices [v{self.number}-{n}]")
            await asyncio.sleep(interval)
        if self.client is not None:
            await self.client.disconnect()


class PanelCodes:
    """The Client Panel asking any live node for a code."""

    def __init__(self, nodes: list[Node], http: aiohttp.ClientSession) -> None:
        self.nodes, self.http = nodes, http

    async def code(self) -> str:
        while True:
            for node in self.nodes:
                try:
                    async with self.http.post(
                        f"{node.url}/api/panel/codes",
                        json={"login": ACCOUNT["login"]},
                        headers={"Authorization": f"Bearer {PANEL_KEY}"},
                    ) as answer:
                        if answer.status == 201:
                            return str((await answer.json())["code"])
                except aiohttp.ClientError:
                    continue
            await asyncio.sleep(0.5)


async def mail_stream(
    nodes: list[Node], rate: float, stop_at: float, panel: PanelCodes, tally: Tally
) -> None:
    """Change requests with a code in the first mail, and questions, `rate` a second."""
    for n in itertools.count():
        if time.monotonic() >= stop_at:
            return
        asyncio.create_task(_send_mail(n, nodes, panel, tally))
        await asyncio.sleep(1 / rate)


async def _send_mail(n: int, nodes: list[Node], panel: PanelCodes, tally: Tally) -> None:
    subject = f"soak mail {n}"
    body = "When does my domain expire?\r\n"
    if n % 2 == 0:
        code = await panel.code()
        body = f"Please change the DNS of example.pl.\r\n\r\nLogin: {ACCOUNT['login']}\r\n"
        body += f"Code: {code}\r\n"
    message = (
        f"From: {ACCOUNT['email']}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <soak-{n}@example.com>\r\n\r\n{body}"
    )
    for attempt in range(20):
        node = nodes[(n + attempt) % 2]
        try:
            await aiosmtplib.send(
                message,
                sender=ACCOUNT["email"],
                recipients=[SUPPORT],
                hostname="127.0.0.1",
                port=node.smtp_port,
                start_tls=False,
                timeout=15,
            )
        except aiosmtplib.SMTPConnectError:
            tally.mail_refused += 1  # the node is down: the next MX
            await asyncio.sleep(0.5)
            continue
        except (aiosmtplib.SMTPException, OSError):
            tally.mail_unknown.append(subject)  # connection lost mid-way: maybe stored
            return
        tally.mail_accepted.append(subject)
        return


async def sample_rss(
    nodes: list[Node], every: float, stop_at: float, rows: list[list[Any]]
) -> None:
    started = time.monotonic()
    while time.monotonic() < stop_at:
        rows.append(
            [round(time.monotonic() - started)]
            + [(rss_kb(n.process.pid) or 0) // 1024 if n.process else 0 for n in nodes]
        )
        await asyncio.sleep(every)


async def chaos(node: Node, at: float, down_for: float) -> tuple[float, float]:
    """Kill the node at `at` seconds, start it `down_for` later: (killed at, back at)."""
    started = time.monotonic()
    await asyncio.sleep(at)
    print(f"# t={at:.0f}s: kill -9 {node.name}", flush=True)
    node.kill()
    await asyncio.sleep(down_for)
    node.start()
    await asyncio.to_thread(node.wait_ready, 60)
    back = time.monotonic() - started
    print(f"# t={back:.0f}s: {node.name} back", flush=True)
    return at, back


@dataclass(frozen=True)
class RssWindow:
    """A node's RSS (MiB, one sample each --rss-every) from the end of its warm-up to the end of
    a phase of steady load."""

    node: str
    phase: str
    begin: int
    end: int
    samples: tuple[int, ...]

    @property
    def rise(self) -> int:
        """How much higher the window's second half sits than its first, by the peaks and by
        the troughs: RSS saws up and down by a few MiB with each minute's collection, so two
        single samples may be a trough and a peak, while a leak lifts both."""
        half = len(self.samples) // 2
        first, second = self.samples[:half], self.samples[-half:]
        return max(max(second) - max(first), min(second) - min(first))

    @property
    def level(self) -> bool:
        return self.rise <= RSS_SLACK_MIB


def rss_windows(
    rows: list[list[int]], names: list[str], phases: list[tuple[str, float, float]]
) -> list[RssWindow]:
    """Each node's RSS over each phase (before the kill; after the restart, when the load has
    moved), from WARM_UP seconds into the phase: caches fill while a node warms up, and only
    growth after that is a leak. A window of fewer than four samples is too short to judge."""
    windows = []
    for column, name in enumerate(names, start=1):
        for phase, begin, end in phases:
            samples = [
                (row[0], row[column])
                for row in rows
                if begin + WARM_UP <= row[0] <= end and row[column]
            ]
            if len(samples) >= 4:
                rss = tuple(value for _, value in samples)
                windows.append(RssWindow(name, phase, samples[0][0], samples[-1][0], rss))
    return windows


async def drained(database: str, within: float) -> bool:
    """Every outbox item delivered (a killed node's leases expire after two minutes)."""
    engine = create_async_engine(database)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as db:
                waiting = await db.scalar(
                    select(func.count())
                    .select_from(OutboxItem)
                    .where(OutboxItem.delivered_at.is_(None))
                )
            if not waiting:
                return True
            await asyncio.sleep(2)
        return False
    finally:
        await engine.dispose()


async def audit(database: str, tally: Tally, sink: SmtpSink) -> dict[str, Any]:
    engine = create_async_engine(database)
    try:
        async with engine.connect() as db:
            lines = Counter(
                (
                    await db.scalars(
                        select(TranscriptMessage.text).where(TranscriptMessage.author == "client")
                    )
                ).all()
            )
            subjects = Counter((await db.scalars(select(Conversation.subject))).all())
            forwarded = set(
                (
                    await db.scalars(
                        select(ChangeRequest.ticket).where(ChangeRequest.status == "forwarded")
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    staff = [m for e, m in zip(sink.envelopes, sink.messages, strict=True) if STAFF in e.rcpt_tos]
    staff_tickets = Counter(m["X-Gateway-Ticket"] for m in staff)
    staff_ids = Counter(m["Message-ID"] for m in staff)
    return {
        "chat_acked": len(tally.chat_acked),
        "chat_acked_lost": sum(1 for t in tally.chat_acked if lines[t] == 0),
        "chat_stored_twice": sum(1 for t in tally.chat_acked if lines[t] > 1),
        "chat_unacked": tally.chat_unacked,
        "chat_failovers": tally.chat_failovers,
        "chat_verified": tally.chat_verified,
        "mail_accepted": len(tally.mail_accepted),
        "mail_accepted_lost": sum(1 for s in tally.mail_accepted if subjects[s] == 0),
        "mail_accepted_twice": sum(1 for s in tally.mail_accepted if subjects[s] > 1),
        "mail_reply_lost": len(tally.mail_unknown),
        "mail_refused_node_down": tally.mail_refused,
        "requests_forwarded": len(forwarded),
        "forwarded_missing_at_staff": len(forwarded - set(staff_tickets)),
        "staff_mails": len(staff),
        "staff_tickets_twice": sum(1 for c in staff_tickets.values() if c > 1),
        "staff_redelivered_same_message_id": sum(c - 1 for c in staff_ids.values() if c > 1),
    }


async def soak(args: argparse.Namespace, workdir: Path, database: str) -> None:
    sink = await SmtpSink().start()
    shared = cluster_settings(
        database,
        outbound={"smtp": f"127.0.0.1:{sink.port}", "sender": SUPPORT},
        smtp={"addresses": [SUPPORT], "auto_replies_per_hour": 100000, "sender_rate": ""},
        staff={"mailbox": STAFF},
        panel={"api_key": PANEL_KEY},
        chat={"rate_limit": "1000/10s"},
        log={"level": "warning"},
    )
    nodes = cluster_nodes(workdir, shared)
    config = nodes[0].write_config()
    await asyncio.to_thread(run_cli, config, "db", "upgrade")
    accounts = workdir / "accounts.json"
    accounts.write_text(json.dumps([ACCOUNT]))
    await asyncio.to_thread(run_cli, config, "accounts", "import", str(accounts))
    for node in nodes:
        node.start()
    for node in nodes:
        await asyncio.to_thread(node.wait_ready)
    tally, rss_rows = Tally(), []
    stop_at = time.monotonic() + args.duration
    try:
        async with aiohttp.ClientSession() as http:
            panel = PanelCodes(nodes, http)
            visitors = [Visitor(i, nodes, tally) for i in range(args.clients)]
            for visitor in visitors:
                await visitor.connect()
            print(
                f"# {args.clients} chat clients connected; soaking {args.duration:.0f} s",
                flush=True,
            )
            *_, (killed_at, back_at) = await asyncio.gather(
                *(v.run(stop_at, args.interval, panel) for v in visitors),
                mail_stream(nodes, args.mail_rate, stop_at, panel, tally),
                sample_rss(nodes, args.rss_every, stop_at, rss_rows),
                chaos(nodes[0], args.kill_at or args.duration / 2, args.down_for),
            )
        await asyncio.sleep(15)  # mails still being sent and processed
        print("# waiting for the outbox to drain", flush=True)
        complete = await drained(database, 200)
        report = await audit(database, tally, sink)
        chain = await asyncio.to_thread(run_cli, config, "audit", "verify")
    finally:
        for node in nodes:
            node.terminate()
        await sink.stop()
    report["outbox_drained"] = complete
    report["audit_verify"] = chain.strip()
    print("\n| t (s) | node1 RSS MiB | node2 RSS MiB |\n|---|---|---|")
    for row in rss_rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    phases = [("before the kill", 0.0, killed_at), ("after the restart", back_at, args.duration)]
    windows = rss_windows(rss_rows, [n.name for n in nodes], phases)
    print(f"\n| node | phase (after {WARM_UP:.0f} s) | t (s) | RSS MiB | |\n|---|---|---|---|---|")
    for w in windows:
        verdict = f"level ({w.rise:+d})" if w.level else f"rose {w.rise} MiB: over {RSS_SLACK_MIB}"
        low, high = min(w.samples), max(w.samples)
        print(f"| {w.node} | {w.phase} | {w.begin}-{w.end} | {low}-{high} | {verdict} |")
    if not windows:
        print("| (the run is too short to judge RSS) | | | | |")
    print("\n" + json.dumps(report, indent=1))
    bad = [
        "chat_acked_lost",
        "chat_stored_twice",
        "mail_accepted_lost",
        "mail_accepted_twice",
        "forwarded_missing_at_staff",
        "staff_tickets_twice",
    ]
    ok = not any(report[k] for k in bad) and complete and chain.startswith("ok")
    ok = ok and all(w.level for w in windows)
    print("\nsoak: " + ("PASS" if ok else "FAIL"))
    if not ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between a client's lines"
    )
    parser.add_argument("--mail-rate", type=float, default=2.0, help="mails a second")
    parser.add_argument(
        "--down-for", type=float, default=20.0, help="seconds the killed node stays down"
    )
    parser.add_argument(
        "--kill-at", type=float, help="seconds into the soak node 1 is killed (half by default)"
    )
    parser.add_argument("--rss-every", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_database(POSTGRES_URL) as database:
        asyncio.run(soak(args, Path(tmp), database))


if __name__ == "__main__":
    main()
