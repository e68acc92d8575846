"""Gateway nodes as separate processes on one PostgreSQL and one Redis, as an operator runs
them: `gateway serve --config F`. Used by the two-node tests and by bench/soak.py."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import POSTGRES_URL, REDIS_URL, postgres_database
from tests.smtp_sink import free_port

__all__ = [
    "POSTGRES_URL",
    "Node",
    "cluster_nodes",
    "cluster_settings",
    "postgres_database",
    "run_cli",
    "toml",
]

PYTHON = sys.executable
Sections = dict[str, dict[str, Any]]


def toml(sections: Sections) -> str:
    """Enough TOML for a config: strings, integers, booleans and lists of strings."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def run_cli(config: Path, *args: str, stdin: str | None = None) -> str:
    """One `gateway` command; its stdout. A failure raises with its stderr."""
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gateway {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


def cluster_settings(database: str, **sections: dict[str, Any]) -> Sections:
    """What the nodes of one cluster share: the database, Redis under a prefix of its own (runs
    sharing the machine's Redis never hear each other), and the keys, identical on every node
    as the deployment guide says; plus `sections`."""
    return {
        "database": {"url": database},
        "redis": {"url": REDIS_URL, "prefix": f"gw-{secrets.token_hex(4)}"},
        "security": {"secret_key": secrets.token_urlsafe(32), "identifier_key": "i" * 40},
        **sections,
    }


def cluster_nodes(workdir: Path, shared: Sections, count: int = 2) -> list[Node]:
    """Each node with a data folder of its own: nothing but `shared` comes from the disk."""
    names = [f"node{i + 1}" for i in range(count)]
    return [Node(n, workdir, {**shared, "data": {"dir": str(workdir / f"var-{n}")}}) for n in names]


@dataclass
class Node:
    """One `gateway serve` process with its own ports, sharing everything else."""

    name: str
    workdir: Path
    shared: Sections
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def config(self) -> Path:
        return self.workdir / f"{self.name}.toml"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def write_config(self) -> Path:
        sections = {name: dict(values) for name, values in self.shared.items()}
        sections.setdefault("http", {}).update(host="127.0.0.1", port=self.http_port)
        sections.setdefault("smtp", {}).update(host="127.0.0.1", port=self.smtp_port)
        sections.setdefault("metrics", {}).update(host="127.0.0.1", port=self.metrics_port)
        self.config.write_text(toml(sections), encoding="utf-8")
        return self.config

    def start(self) -> Node:
        self.write_config()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "gateway", "--config", str(self.config), "serve"],
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if self.ready() == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def ready(self) -> int | None:
        """/readyz's status code, or None when nothing answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)
        except OSError:
            return None

    def terminate(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM, then wait: (exit code, seconds it took)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
