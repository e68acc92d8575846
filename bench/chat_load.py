"""Load client for bench/chat.py: N python-socketio clients (websocket) in one process.

Closed loop (`--mode closed`): each client sends, awaits the ack, sends again, for --duration.
Paced (`--mode paced`): each client sends one message per --interval seconds.
Target `gateway` talks to the /chat namespace (`message` → ack {"id"}); target `bare` to the
baseline echo server (`message_ack` → the payload as ack). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from typing import Any

import aiohttp
import socketio


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round((len(ordered) - 1) * p / 100)))]


class Target:
    def __init__(self, kind: str) -> None:
        self.namespace = "/chat" if kind == "gateway" else "/"
        self.event = "message" if kind == "gateway" else "message_ack"
        self.kind = kind

    def ok(self, ack: Any) -> bool:
        if self.kind == "gateway":
            return isinstance(ack, dict) and isinstance(ack.get("id"), int)
        return isinstance(ack, dict) and "text" in ack


async def connect(url: str, target: Target, http: aiohttp.ClientSession) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=http)
    auth = {"language": "en"} if target.kind == "gateway" else None
    await client.connect(
        url, namespaces=[target.namespace], transports=["websocket"], auth=auth, wait_timeout=60
    )
    return client


async def closed_loop(
    client: socketio.AsyncClient,
    target: Target,
    stop_at: float,
    lats: list[float],
    errors: list[str],
) -> None:
    n = 0
    while time.perf_counter() < stop_at:
        n += 1
        payload = {"text": f"Thanks, one more question about my invoices, part {n}"}
        started = time.perf_counter()
        try:
            ack = await client.call(target.event, payload, namespace=target.namespace, timeout=30)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
            continue
        if target.ok(ack):
            lats.append(time.perf_counter() - started)
        else:
            errors.append(repr(ack))


async def paced(
    client: socketio.AsyncClient,
    target: Target,
    stop_at: float,
    interval: float,
    lats: list[float],
    errors: list[str],
) -> None:
    await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spread the clients out
    n = 0
    while time.perf_counter() < stop_at:
        n += 1
        tick = time.perf_counter()
        payload = {"text": f"Is there anything else you need from me? ({n})"}
        try:
            ack = await client.call(target.event, payload, namespace=target.namespace, timeout=30)
            if target.ok(ack):
                lats.append(time.perf_counter() - tick)
            else:
                errors.append(repr(ack))
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - tick)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = Target(args.target)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        semaphore = asyncio.Semaphore(100)

        async def one() -> socketio.AsyncClient:
            async with semaphore:
                return await connect(args.url, target, http)

        started = time.perf_counter()
        clients = await asyncio.gather(*(one() for _ in range(args.n)))
        connect_s = time.perf_counter() - started
        if args.target == "gateway":  # first message opens the conversation to staff
            await asyncio.gather(
                *(
                    c.call(
                        "message",
                        {"text": "Hello, what are your opening hours?"},
                        namespace="/chat",
                        timeout=60,
                    )
                    for c in clients
                )
            )
        await asyncio.sleep(1.0)
        rss_connected = await server_rss(args)
        lats: list[float] = []
        errors: list[str] = []
        stop_at = time.perf_counter() + args.duration
        cpu_before = server_cpu_seconds(args.server_pid)
        started = time.perf_counter()
        if args.mode == "closed":
            await asyncio.gather(*(closed_loop(c, target, stop_at, lats, errors) for c in clients))
        else:
            await asyncio.gather(
                *(paced(c, target, stop_at, args.interval, lats, errors) for c in clients)
            )
        elapsed = time.perf_counter() - started
        cpu_used = server_cpu_seconds(args.server_pid) - cpu_before
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    return {
        "target": args.target,
        "mode": args.mode,
        "n": args.n,
        "connect_s": round(connect_s, 2),
        "round_trips": len(lats),
        "rt_per_s": round(len(lats) / elapsed, 1),
        "p50_ms": round(1000 * (percentile(lats, 50) or 0), 2),
        "p99_ms": round(1000 * (percentile(lats, 99) or 0), 2),
        "mean_ms": round(1000 * statistics.fmean(lats), 2) if lats else None,
        "errors": len(errors),
        "last_error": errors[-1] if errors else None,
        "rss_connected_kb": rss_connected,
        "server_cpu_pct": round(100 * cpu_used / elapsed, 1),
        "server_cpu_us_per_rt": round(1e6 * cpu_used / max(1, len(lats)), 1),
    }


def server_cpu_seconds(pid: int) -> float:
    """utime + stime of the server process, read from /proc (same machine)."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_rss(args: argparse.Namespace) -> int | None:
    try:
        with open(f"/proc/{args.server_pid}/status") as status:  # noqa: ASYNC230 - /proc
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--target", choices=["gateway", "bare"], required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--mode", choices=["closed", "paced"], default="closed")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
