"""Load client for bench/mail.py: C concurrent SMTP senders (aiosmtplib) in one process, each on
one connection reused for the whole run, like the baseline's smtp_load.py with --per-conn 0.

Unlike smtp_load.py, every message is one the gateway can take through its pipeline: sender
N writes from client-N@example.com to support@example.net, with its own Date and Message-ID,
and asks one of a few usual questions (domain expiry, invoices, DNS, opening hours), padded with
a signature and a company footer to about --size bytes. Per-message latency is MAIL+RCPT+DATA
(one sendmail() on an open connection). Only ever connects to 127.0.0.1. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import aiosmtplib
from procfs import cpu_seconds, percentile, rss_kb

HOST = "127.0.0.1"
RECIPIENT = "support@example.net"

QUESTIONS = [
    (
        "Domain expiry",
        "Please tell me when my domain example.pl expires. I would like to renew it in time\r\n"
        "and I cannot find the date in the panel.",
    ),
    (
        "Invoice for March",
        "Could you send me the invoice for March once more? It did not reach the accounting\r\n"
        "department and they need it by Friday.",
    ),
    (
        "DNS question",
        "Is it possible to point the domain example.pl at an external server, and how long\r\n"
        "does it usually take before the change is visible everywhere?",
    ),
    (
        "Opening hours",
        "What are your opening hours during the holidays, and is there a phone line I can\r\n"
        "call in an emergency outside of them?",
    ),
]

CONTEXT = (
    "We run a small online shop and a few landing pages with you, and so far everything has\r\n"
    "worked well. I am writing from the office, so a reply to this address is best.\r\n"
)

FOOTER = (
    "Example Trading Sp. z o.o., ul. Przykladowa 12/4, 00-950 Warszawa, Poland. District\r\n"
    "Court for the capital city of Warsaw, XII Commercial Division, KRS 0000123456,\r\n"
    "NIP 5250000000, share capital PLN 50,000.00 paid in full.\r\n"
    "This message and any attachments are confidential and intended solely for the\r\n"
    "addressee. Any review, retransmission or dissemination by other persons or entities\r\n"
    "than the intended recipient is prohibited. Please consider the environment before\r\n"
    "printing this e-mail.\r\n"
)


class Letters:
    """Messages of one sender, about `size` bytes each; only Date and Message-ID change.

    Shaped like what a mail client sends: multipart/alternative with the text and its HTML
    twin, a signature, and the company footer in small print.
    """

    def __init__(self, run: str, sender: int, size: int) -> None:
        self.address = f"client-{sender}@example.com"
        self._run = run
        self._sender = sender
        self._seq = 0
        self._templates = [self._template(s, q, size) for s, q in QUESTIONS]

    def _template(self, subject: str, question: str, size: int) -> str:
        boundary = f"=_part_{self._sender}_{self._run}"
        head = (
            f"From: Client {self._sender} <{self.address}>\r\nTo: Support <{RECIPIENT}>\r\n"
            f"Subject: {subject}\r\nDate: {{date}}\r\nMessage-ID: {{message_id}}\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"'
            "\r\n\r\n"
        )
        signature = f"Kind regards,\r\nClient {self._sender}\r\nExample Trading\r\n"
        paragraphs = ["Good morning,\r\n", question + "\r\n", CONTEXT, signature]
        text = "\r\n".join(paragraphs) + "\r\n-- \r\n" + FOOTER
        html = "".join(f"<p>{' '.join(p.split())}</p>\r\n" for p in paragraphs)
        plain_part = f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
        html_head = f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        html_tail = f"</body></html>\r\n--{boundary}--\r\n"
        html_part = f"{html_head}<html><body>\r\n{html}"
        sample = head.format(date=formatdate(usegmt=True), message_id=self._message_id(0))
        room = size - len(sample) - len(plain_part) - len(html_part) - len(html_tail)
        small_print = ""
        if room > 40:  # the footer again, in small print, cut at a word to fill up to `size`
            words = " ".join(FOOTER.split())
            opening, closing = '<p style="font-size:8pt">', "</p>\r\n"
            fitting = words[: room - len(opening) - len(closing)].rsplit(" ", 1)[0]
            small_print = (opening + fitting + closing).rjust(room)
        return head + plain_part + html_part + small_print + html_tail

    def _message_id(self, seq: int) -> str:
        return f"<{self._run}.{self._sender:04d}.{seq:08d}@example.com>"

    def next(self) -> bytes:
        self._seq += 1
        template = self._templates[(self._seq + self._sender) % len(self._templates)]
        text = template.format(date=formatdate(usegmt=True), message_id=self._message_id(self._seq))
        return text.encode("ascii")


def reply_code(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return str(exc.recipients[0].code)
    code = getattr(exc, "code", None)
    return str(code) if isinstance(code, int) and code > 0 else type(exc).__name__


@dataclass
class Tally:
    lats: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    reconnects: int = 0


async def sender(
    connections: list[aiosmtplib.SMTP],
    index: int,
    letters: Letters,
    args: argparse.Namespace,
    stop_at: float,
    tally: Tally,
) -> None:
    """Sends until stop_at on one connection; when the server closes it (a 421, a limit),
    reconnects as a sending MTA would, counts that, and carries on."""
    while time.perf_counter() < stop_at:
        smtp = connections[index]
        if not smtp.is_connected:
            tally.reconnects += 1
            try:
                smtp = connections[index] = await connect(args.port, args.timeout)
            except (OSError, aiosmtplib.SMTPException) as exc:
                tally.errors[f"connect: {type(exc).__name__}"] += 1
                tally.last_error = repr(exc)
                await asyncio.sleep(0.05)
                continue
        message = letters.next()
        started = time.perf_counter()
        try:
            await smtp.sendmail(letters.address, [RECIPIENT], message)
        except aiosmtplib.SMTPException as exc:
            tally.errors[reply_code(exc)] += 1
            tally.last_error = repr(exc)
            continue
        tally.lats.append(time.perf_counter() - started)


async def watch_rss(pid: int, peak: list[int]) -> None:
    while True:
        rss = rss_kb(pid)
        if rss is not None and rss > peak[0]:
            peak[0] = rss
        await asyncio.sleep(0.25)


async def connect(port: int, command_timeout: float) -> aiosmtplib.SMTP:
    smtp = aiosmtplib.SMTP(
        hostname=HOST,
        port=port,
        use_tls=False,
        start_tls=False,  # plain loopback; aiosmtplib 5 would try STARTTLS
        timeout=command_timeout,
        local_hostname="client.example.com",  # not getfqdn(): no DNS lookup
    )
    await smtp.connect()
    return smtp


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = f"{os.getpid()}{int(time.time())}"
    letters = [Letters(run_id, n + 1, args.size) for n in range(args.concurrency)]
    connections = list(
        await asyncio.gather(*(connect(args.port, args.timeout) for _ in range(args.concurrency)))
    )
    tally = Tally()
    peak = [rss_kb(args.server_pid) or 0]
    watcher = asyncio.create_task(watch_rss(args.server_pid, peak))
    cpu_before = cpu_seconds(args.server_pid)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    started_at = time.time()
    started = time.perf_counter()
    stop_at = started + args.duration
    senders = [
        sender(connections, index, mine, args, stop_at, tally) for index, mine in enumerate(letters)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*senders), args.duration + 60)
    except TimeoutError:
        tally.errors["hard timeout"] += 1
    elapsed = time.perf_counter() - started
    ended_at = time.time()
    cpu_used = cpu_seconds(args.server_pid) - cpu_before
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    own_cpu = (own_after.ru_utime - own_before.ru_utime) + (
        own_after.ru_stime - own_before.ru_stime
    )
    watcher.cancel()
    lats = tally.lats
    rss_after = rss_kb(args.server_pid)
    await asyncio.gather(*(smtp.quit() for smtp in connections), return_exceptions=True)
    return {
        "concurrency": args.concurrency,
        "msg_bytes": len(letters[0].next()),
        "sent": len(lats),
        "reconnects": tally.reconnects,
        "elapsed_s": round(elapsed, 3),
        "started_at": started_at,
        "ended_at": ended_at,
        "msgs_per_s": round(len(lats) / elapsed, 1),
        "p50_ms": round(1000 * (percentile(lats, 50) or 0), 2),
        "p99_ms": round(1000 * (percentile(lats, 99) or 0), 2),
        "max_ms": round(1000 * max(lats), 2) if lats else None,
        "mean_ms": round(1000 * statistics.fmean(lats), 2) if lats else None,
        "errors": sum(tally.errors.values()),
        "error_codes": dict(tally.errors),
        "last_error": tally.last_error,
        "server_rss_peak_kb": peak[0],
        "server_rss_after_kb": rss_after,
        "server_cpu_pct": round(100 * cpu_used / elapsed, 1),
        "client_cpu_pct": round(100 * own_cpu / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--concurrency", "-c", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--timeout", type=float, default=30.0, help="per SMTP command")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
