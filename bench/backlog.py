"""A mail backlog drained while the chat is in use (issue 15): how fast ~3,000 accepted mails
are processed, against the bare fsync sink's acceptance rate measured in the same run, and the
chat's round trips and p99 during that drain, against the same chat load on the same gateway
once the backlog is gone. Medians of --reps runs; 127.0.0.1 only.

The backlog is taken in by a gateway that only accepts (smtp.process_mail = false), which then
restarts processing: the drain starts with the chat load.
Run: .venv/bin/python bench/backlog.py [--backlog 3000] [--chat 10] [--chat-seconds 10] [--reps 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat_load import run_load

_spec = importlib.util.spec_from_file_location("bench_mail", Path(__file__).with_name("mail.py"))
assert _spec is not None and _spec.loader is not None
bench_mail = importlib.util.module_from_spec(_spec)
sys.modules["bench_mail"] = bench_mail
_spec.loader.exec_module(bench_mail)

SENDERS = 10  # concurrent SMTP senders filling the backlog and measuring the sink
# The load's clients write as fast as they are answered: no per-conversation limit.
CHAT_UNLIMITED = '[chat]\nrate_limit = "1000000/1s"\n'


def fill(server: Any, backlog: int) -> int:
    """Send until at least `backlog` mails are accepted; how many were."""
    accepted = 0
    while accepted < backlog:
        accepted += int(bench_mail.load(server, SENDERS, 2.0, 2048)["sent"])
    return accepted


def pending(server: Any) -> float:
    return float(bench_mail.read_metrics(server.metrics_port).get("gateway_mail_pending", 0.0))


def one_run(backlog: int, chat: int, chat_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        workdir = Path(tmp)
        (workdir / "sink").mkdir()
        with bench_mail.sink("fsync", workdir / "sink", 5.0) as sink:
            fsync = float(bench_mail.load(sink, SENDERS, 5.0, 2048)["msgs_per_s"])
        with bench_mail.gateway(workdir, process_mail=False) as server:
            accepted = fill(server, backlog)
        with bench_mail.gateway(workdir, process_mail=True, extra=CHAT_UNLIMITED) as server:
            url = f"http://127.0.0.1:{server.http_port}"
            started = time.monotonic()
            during = run_load([url], [server.process.pid], "gateway", chat, "closed", chat_seconds)
            left_after_chat = pending(server)
            while pending(server) > 0 and time.monotonic() - started < 600:
                time.sleep(0.25)
            drain_s = time.monotonic() - started
            alone = run_load([url], [server.process.pid], "gateway", chat, "closed", chat_seconds)
    return {
        "fsync_per_s": fsync,
        "backlog": accepted,
        "left_after_chat": left_after_chat,
        "drain_s": round(drain_s, 1),
        "drain_per_s": round(accepted / drain_s, 1),
        "chat_during_rt_s": during["rt_per_s"],
        "chat_during_p99_ms": during["p99_ms"],
        "chat_alone_rt_s": alone["rt_per_s"],
        "chat_alone_p99_ms": alone["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--chat", type=int, default=10, help="chat clients, closed loop")
    parser.add_argument("--chat-seconds", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for rep in range(args.reps):
        result = one_run(args.backlog, args.chat, args.chat_seconds)
        print(f"# rep {rep}: {result}", flush=True)
        runs.append(result)

    def med(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    drain, fsync = med("drain_per_s"), med("fsync_per_s")
    during, alone = med("chat_during_rt_s"), med("chat_alone_rt_s")
    print(f"\nMedians of {args.reps} runs, {SENDERS} senders, {args.chat} chat clients:\n")
    print("| measure | result |")
    print("|---|---|")
    print(f"| bare fsync sink, acceptance | {fsync:,.0f} msg/s |")
    print(f"| backlog drained | {med('backlog'):,.0f} mails in {med('drain_s')} s |")
    print(f"| drain rate / sink acceptance | {drain:,.0f} msg/s: **{drain / fsync:.2f}×** |")
    print(
        f"| chat during the drain / alone | {during:,.0f} vs {alone:,.0f} round trips/s: "
        f"**{during / alone:.2f}×** |"
    )
    print(
        f"| chat p99 during the drain / alone | {med('chat_during_p99_ms'):.0f} ms vs "
        f"{med('chat_alone_p99_ms'):.0f} ms |"
    )
    print(f"| mails still waiting when the chat load ended | {med('left_after_chat'):,.0f} |")


if __name__ == "__main__":
    main()
