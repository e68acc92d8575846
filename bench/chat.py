"""Chat round trips: the gateway's /chat namespace against the bare python-socketio echo server
of ../shared/baselines, both measured in this run on this machine, with the ratios.

Closed loop at N = 10, 100 and 500 clients (each sends, awaits the ack, sends again), then a
paced run of 1,000 open conversations each sending one message a second. The gateway persists
every message (SQLite, fsync'd group commits) before it acknowledges it.

Run: .venv/bin/python bench/chat.py [--n 10 100 500] [--duration 10] [--paced 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat_load import run_load
from procfs import free_port, rss_kb, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(os.environ.get("GATEWAY_BASELINES", ROOT.parent / "shared" / "baselines"))
PYTHON = sys.executable


def start_bare(port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [PYTHON, str(BASELINES / "sio_server.py"), "--port", str(port), "--backlog", "2048"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=BASELINES,
    )
    assert server.stdout is not None
    if not server.stdout.readline().startswith("{"):
        raise RuntimeError("the bare echo server did not start")
    return server


def start_gateway(port: int, workdir: Path) -> subprocess.Popen[str]:
    config = workdir / "gateway.toml"
    config.write_text(
        f'[data]\ndir = "{workdir / "var"}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{workdir / "gateway.db"}"\n'
        f"[http]\nport = {port}\n[smtp]\nport = {free_port()}\n[metrics]\nport = 0\n"
        f'[outbound]\nsmtp = "maildir:{workdir / "outbox"}"\n'
        '[chat]\nrate_limit = "1000000/1s"\n'
    )
    gateway = [PYTHON, "-m", "gateway", "--config", str(config)]
    subprocess.run([*gateway, "db", "upgrade"], check=True, capture_output=True, cwd=ROOT)
    server = subprocess.Popen(
        [*gateway, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return server


def one_run(target: str, n: int, mode: str, duration: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_bare(port) if target == "bare" else start_gateway(port, Path(tmp))
        try:
            time.sleep(0.5)
            idle = rss_kb(server.pid)
            url = f"http://127.0.0.1:{port}"
            result = run_load([url], [server.pid], target, n, mode, duration)
        finally:
            stop(server)
    result["rss_idle_kb"] = idle
    if idle and result.get("rss_connected_kb"):
        result["kib_per_conversation"] = round((result["rss_connected_kb"] - idle) / n, 1)
    return result


def ratio(ours: float | None, bare: float | None) -> str:
    return f"{ours / bare:.2f}x" if ours and bare else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--paced", type=int, default=1000, help="0 skips the paced run")
    parser.add_argument("--paced-duration", type=float, default=20.0)
    args = parser.parse_args()
    if not (BASELINES / "sio_server.py").exists():
        raise SystemExit(f"baselines not found at {BASELINES} (set GATEWAY_BASELINES)")

    runs: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    plan = [("closed", n, args.duration) for n in args.n]
    if args.paced:
        plan.append(("paced", args.paced, args.paced_duration))
    for mode, n, duration in plan:
        bare = one_run("bare", n, mode, duration)
        ours = one_run("gateway", n, mode, duration)
        print(
            f"# {mode} N={n}\n#   bare    {json.dumps(bare)}\n#   gateway {json.dumps(ours)}",
            flush=True,
        )
        runs.append((mode, n, bare, ours))

    print(
        "\n| run | N | bare rt/s | gateway rt/s | ratio | bare p50/p99 ms | gateway p50/p99 ms "
        "| bare KiB/conn | gateway KiB/conn | errors (bare/gw) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, n, bare, ours in runs:
        print(
            f"| {mode} | {n} | {bare['rt_per_s']:,.0f} | {ours['rt_per_s']:,.0f} "
            f"| {ratio(ours['rt_per_s'], bare['rt_per_s'])} "
            f"| {bare['p50_ms']} / {bare['p99_ms']} | {ours['p50_ms']} / {ours['p99_ms']} "
            f"| {bare.get('kib_per_conversation', 'n/a')} "
            f"| {ours.get('kib_per_conversation', 'n/a')} "
            f"| {bare['errors']} / {ours['errors']} |"
        )


if __name__ == "__main__":
    main()
