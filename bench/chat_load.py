"""Load client for bench/chat.py: N socket.io clients in one process, speaking the protocol
directly over aiohttp websockets (engine.io 4 / socket.io 5 text frames). A full
python-socketio client per simulated visitor costs more CPU than the server under test; this
one lets two cores measure the server rather than the load generator.

Closed loop (`--mode closed`): each client sends, awaits the ack, sends again, for --duration.
Paced (`--mode paced`): each client sends one message every --interval seconds.
Target `gateway` talks to /chat (`message` → ack {"id"}); target `bare` to the baseline echo
server's default namespace (`message_ack` → the payload as ack). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
from procfs import cpu_seconds, percentile, rss_kb


class Visitor:
    """One socket.io connection: emits with acks, answers pings, ignores other events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, namespace: str, event: str) -> None:
        self._ws = ws
        self._prefix = "" if namespace == "/" else f"{namespace},"
        self._event = event
        self._next_ack = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, http: aiohttp.ClientSession, url: str, namespace: str, event: str, auth: Any
    ) -> Visitor:
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        opened = await ws.receive_str()
        if not opened.startswith("0"):
            raise RuntimeError(f"no engine.io open packet: {opened[:80]}")
        visitor = cls(ws, namespace, event)
        payload = json.dumps(auth) if auth is not None else ""
        await ws.send_str(f"40{visitor._prefix}{payload}")
        while True:  # wait for the namespace's CONNECT answer
            frame = await ws.receive_str()
            if frame.startswith(f"40{visitor._prefix}") or frame == "40":
                break
            if frame.startswith(f"44{visitor._prefix}"):
                raise RuntimeError(f"namespace refused: {frame[:120]}")
            if frame == "2":
                await ws.send_str("3")
        visitor._reader = asyncio.create_task(visitor._read())
        return visitor

    async def call(self, data: dict[str, Any], patience: float = 30) -> Any:
        self._next_ack += 1
        ack_id = self._next_ack
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ack_id] = future
        await self._ws.send_str(f"42{self._prefix}{ack_id}{json.dumps([self._event, data])}")
        try:
            return await asyncio.wait_for(future, patience)
        finally:
            self._waiting.pop(ack_id, None)

    async def _read(self) -> None:
        ack_head = f"43{self._prefix}"
        async for frame in self._ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            text = frame.data
            if text == "2":
                await self._ws.send_str("3")
            elif text.startswith(ack_head):
                body = text[len(ack_head) :]
                split = body.index("[")
                future = self._waiting.get(int(body[:split]))
                if future is not None and not future.done():
                    future.set_result(json.loads(body[split:])[0])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self._ws.close()


def ack_ok(target: str, ack: Any) -> bool:
    if target == "gateway":
        return isinstance(ack, dict) and isinstance(ack.get("id"), int)
    return isinstance(ack, dict) and "text" in ack


async def closed_loop(
    visitor: Visitor, target: str, stop_at: float, lats: list[float], errors: list[str]
) -> None:
    n = 0
    while time.perf_counter() < stop_at:
        n += 1
        started = time.perf_counter()
        try:
            # More words for staff, asking for nothing (the recogniser rightly holds "a question
            # about my invoices" as a request for one): the common turn, a note.
            ack = await visitor.call({"text": f"Thanks, I will wait for your answer ({n})"})
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
            continue
        if ack_ok(target, ack):
            lats.append(time.perf_counter() - started)
        else:
            errors.append(repr(ack))


async def paced(
    visitor: Visitor,
    target: str,
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
        try:
            ack = await visitor.call({"text": f"Is there anything else you need from me? ({n})"})
            if ack_ok(target, ack):
                lats.append(time.perf_counter() - tick)
            else:
                errors.append(repr(ack))
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - tick)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    gateway = args.target == "gateway"
    namespace, event = ("/chat", "message") if gateway else ("/", "message_ack")
    auth = {"language": "en"} if gateway else None
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        semaphore = asyncio.Semaphore(50)

        async def one(url: str) -> Visitor:
            async with semaphore:
                return await Visitor.connect(http, url, namespace, event, auth)

        started = time.perf_counter()
        # Several URLs (nodes): clients spread round robin, as a load balancer would.
        urls = [args.url[i % len(args.url)] for i in range(args.n)]
        visitors = await asyncio.gather(*(one(url) for url in urls))
        connect_s = time.perf_counter() - started
        if gateway:  # the first message hands each conversation to staff
            await asyncio.gather(
                *(v.call({"text": "Hello, what are your opening hours?"}, 120) for v in visitors)
            )
        await asyncio.sleep(1.0)
        rss_connected = sum(rss_kb(pid) or 0 for pid in args.server_pid)
        lats: list[float] = []
        errors: list[str] = []
        cpu_before = sum(cpu_seconds(pid) for pid in args.server_pid)
        if args.mark_file:  # tells a profiler attached to the server that the load begins
            open(args.mark_file, "w").close()  # noqa: ASYNC230, SIM115 - an empty marker
        started = time.perf_counter()
        stop_at = started + args.duration
        if args.mode == "closed":
            runs = [closed_loop(v, args.target, stop_at, lats, errors) for v in visitors]
        else:
            runs = [paced(v, args.target, stop_at, args.interval, lats, errors) for v in visitors]
        await asyncio.gather(*runs)
        elapsed = time.perf_counter() - started
        cpu_used = sum(cpu_seconds(pid) for pid in args.server_pid) - cpu_before
        await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)
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


def run_load(
    urls: list[str], pids: list[int], target: str, n: int, mode: str, duration: float
) -> dict[str, Any]:
    """Runs this module as its own process (its CPU apart from the caller's); its result."""
    load = subprocess.run(
        [sys.executable, __file__, "--target", target, "--url", *urls]
        + ["--server-pid", *map(str, pids), "--n", str(n), "--mode", mode]
        + ["--duration", str(duration)],
        capture_output=True,
        text=True,
        timeout=duration + 300,
        check=False,
    )
    lines = [line for line in load.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"load client failed: {load.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", nargs="+", required=True, help="one per node")
    parser.add_argument("--target", choices=["gateway", "bare"], required=True)
    parser.add_argument("--server-pid", type=int, nargs="+", required=True, help="all nodes")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--mode", choices=["closed", "paced"], default="closed")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--mark-file", default="", help="created when the measured load starts")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
