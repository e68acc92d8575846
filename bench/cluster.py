"""One node against two: the same chat load on one gateway node, then on two nodes sharing one
PostgreSQL and one Redis (each a separate `gateway serve` process), with the ratio.

Every message is persisted (PostgreSQL, synchronous commit) before its ack; clients are spread
round robin over the nodes as a load balancer would. On this 2-core machine the load generator
shares the cores with the nodes, PostgreSQL and Redis, so two nodes measure what the database
and the cores allow rather than what a second machine would add.

Run: .venv/bin/python bench/cluster.py [--n 200] [--duration 10] [--mode closed|paced]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat_load import run_load  # noqa: E402

from tests.cluster.nodes import (  # noqa: E402
    POSTGRES_URL,
    cluster_nodes,
    cluster_settings,
    postgres_database,
    run_cli,
)


def one_run(nodes: int, n: int, mode: str, duration: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, postgres_database(POSTGRES_URL) as database:
        workdir = Path(tmp)
        shared = cluster_settings(
            database,
            chat={"rate_limit": "1000000/1s"},
            outbound={"smtp": f"maildir:{workdir / 'outbox'}"},
            log={"level": "warning"},
        )
        running = cluster_nodes(workdir, shared, nodes)
        run_cli(running[0].write_config(), "db", "upgrade")
        try:
            for node in running:
                node.start()
            for node in running:
                node.wait_ready()
            pids = [node.process.pid for node in running if node.process]
            return run_load([node.url for node in running], pids, "gateway", n, mode, duration)
        finally:
            for node in running:
                node.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--mode", choices=["closed", "paced"], default="closed")
    args = parser.parse_args()
    results = {}
    for nodes in (1, 2):
        results[nodes] = one_run(nodes, args.n, args.mode, args.duration)
        print(f"# {nodes} node(s): {json.dumps(results[nodes])}", flush=True)
    one, two = results[1], results[2]
    print(f"\n{args.mode} loop, {args.n} chat clients, {args.duration:.0f} s, PostgreSQL + Redis")
    print("| nodes | round trips/s | p50 / p99 ms | nodes' CPU % | nodes' RSS MiB | errors |")
    print("|---|---|---|---|---|---|")
    for nodes, r in results.items():
        print(
            f"| {nodes} | {r['rt_per_s']:,.0f} | {r['p50_ms']} / {r['p99_ms']} "
            f"| {r['server_cpu_pct']} | {r['rss_connected_kb'] / 1024:.0f} | {r['errors']} |"
        )
    print(f"\ntwo nodes / one node: {two['rt_per_s'] / max(one['rt_per_s'], 1):.2f}x")


if __name__ == "__main__":
    main()
