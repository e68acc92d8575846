"""Inbound e-mail: the gateway's SMTP listener against the bare aiosmtpd sinks of
../shared/baselines (`bare`: 250 at once; `fsync`: the message to a file and fsync'd before the
250), all measured in this run on this machine, with the ratios.

Acceptance: 1, 10 and 50 concurrent senders, each on one reused connection, send ~2 KB
messages (realistic ones: client-N@example.com asks support@example.net when a domain expires,
for an invoice...) for --duration seconds; messages/s, p50/p99 per message (MAIL+RCPT+DATA)
and the server's peak RSS. The gateway stores every message durably (SQLite, group commits)
before its 250 and processes it in the background, in the same process, during the load.
Processing: after each gateway run, /metrics is polled until everything accepted has been
processed (`gateway_mail_processed_total` reaches the 250s): the backlog left when the load
stopped, how long it took to drain, and the processed messages/s.

Target: at 10 and 50 senders the gateway accepts >= 1.0x what the fsync sink does, p99 < 100 ms.

Every server is a fresh process (the gateway on a fresh SQLite database in a temporary directory,
after `gateway db upgrade`); the load comes from bench/mail_load.py in a process of its own, to
127.0.0.1 only; a sender whose connection the server closes (421) reconnects and carries on.
`--targets ... gateway-spool` adds the gateway with smtp.process_mail = false (accept and spool
only), which separates the listener's own cost from the processing's. The default run takes
about three minutes; --quick about one.

Run: .venv/bin/python bench/mail.py [--conc 1 10 50] [--duration 10] [--reps 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procfs import free_port, rss_kb, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(os.environ.get("GATEWAY_BASELINES", ROOT.parent / "shared" / "baselines"))
PYTHON = sys.executable
# gateway-spool: the gateway with smtp.process_mail = false (accepts and spools, processes
# nothing): not run by default; it tells the listener's own cost from the processing's.
TARGETS = ("bare", "fsync", "gateway", "gateway-spool")
DEFAULT_TARGETS = ("bare", "fsync", "gateway")
SUPPORT = "support@example.net"
TARGET_RATIO = 1.0  # gateway / fsync sink, at TARGET_CONC senders
TARGET_P99_MS = 100.0
TARGET_CONC = (10, 50)
STALL_SECONDS = 30.0  # no mail processed for this long while draining: give up on the drain


def wait_smtp(port: int, server: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before SMTP was up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                if conn.recv(512).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers SMTP on 127.0.0.1:{port}")


def read_metrics(metrics_port: int) -> dict[str, float]:
    """The gateway's Prometheus text, flattened to {'name{label="v"}': value}."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def by_label(samples: dict[str, float], metric: str, label: str) -> dict[str, float]:
    """{label value: sample} for one labelled metric, e.g. processed totals by outcome."""
    pattern = re.compile(rf'^{re.escape(metric)}\{{.*\b{label}="([^"]*)"')
    found: dict[str, float] = {}
    for name, value in samples.items():
        match = pattern.match(name)
        if match:
            found[match.group(1)] = value
    return found


@dataclass
class Server:
    process: subprocess.Popen[str]
    smtp_port: int
    http_port: int = 0
    stderr_path: Path | None = None
    metrics_port: int = 0
    notes: list[str] = field(default_factory=list)


@contextmanager
def sink(mode: str, workdir: Path, duration: float) -> Iterator[Server]:
    port = free_port()
    command = [PYTHON, str(BASELINES / "smtp_sink.py"), "--port", str(port), "--mode", mode]
    command += ["--max-seconds", str(int(duration) + 300), "--data-dir", str(workdir)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BASELINES
    )
    assert process.stdout is not None and process.stderr is not None
    server = Server(process, port)
    try:
        if not process.stdout.readline().startswith("{"):
            raise RuntimeError(f"the {mode} sink did not start: {process.stderr.read()[-2000:]}")
        yield server
    finally:
        stop(process)
        final = [line for line in process.stdout.read().splitlines() if line.startswith("{")]
        if final:
            stats = json.loads(final[-1])
            if stats.get("errors"):
                server.notes.append(f"sink errors {stats['errors']}: {stats.get('last_error')}")
        err = process.stderr.read().strip()
        if err:
            server.notes.append(f"sink stderr: {err[-500:]}")


def gateway_command() -> list[str]:
    script = Path(PYTHON).parent / "gateway"
    return [str(script)] if script.exists() else [PYTHON, "-m", "gateway"]


@contextmanager
def gateway(workdir: Path, process_mail: bool = True, extra: str = "") -> Iterator[Server]:
    """`extra`: more TOML for the gateway's config (bench/backlog.py lifts the chat's limit)."""
    http_port, smtp_port, metrics_port = free_port(), free_port(), free_port()
    config = workdir / "gateway.toml"
    config.write_text(
        f'[data]\ndir = "{workdir / "var"}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{workdir / "gw.db"}"\n'
        f"[http]\nport = {http_port}\n[metrics]\nport = {metrics_port}\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\naddresses = ["{SUPPORT}"]\n'
        f'hostname = "mx.bench.example.net"\nprocess_mail = {str(process_mail).lower()}\n'
        # The load client sends as one address: the sender limit would be all it measured.
        'sender_rate = ""\n'
        f'[outbound]\nsmtp = "maildir:{workdir / "outbox"}"\nsender = "{SUPPORT}"\n' + extra
    )
    command = [*gateway_command(), "--config", str(config)]
    upgrade = subprocess.run(
        [*command, "db", "upgrade"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if upgrade.returncode:
        raise RuntimeError(f"gateway db upgrade failed: {upgrade.stderr[-2000:]}")
    stderr_path = workdir / "gateway.stderr"
    with stderr_path.open("w") as stderr:  # a file, not a pipe: a chatty log cannot block it
        process = subprocess.Popen(
            [*command, "serve"], stdout=subprocess.DEVNULL, stderr=stderr, text=True, cwd=ROOT
        )
    server = Server(process, smtp_port, http_port, stderr_path, metrics_port)
    try:
        try:
            wait_http(f"http://127.0.0.1:{http_port}/healthz", process)
            wait_smtp(smtp_port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{stderr_path.read_text()[-3000:]}") from None
        yield server
    finally:
        stop(process)
        server.notes.extend(log_summary(stderr_path.read_text(errors="replace")))


LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>\S+) ")


def log_summary(log: str) -> list[str]:
    """What the gateway wrote to stderr: lines by logger and level, then any errors, warnings
    and tracebacks (numbers masked, so repeats collapse)."""
    lines = log.splitlines()
    if not lines:
        return []
    sources: Counter[str] = Counter()
    for line in lines:
        match = LOG_LINE.match(line)
        sources[f"{match['logger']} {match['level']}" if match else "other"] += 1
    top = ", ".join(f"{source} {n}" for source, n in sources.most_common(6))
    notes = [f"gateway stderr: {len(lines)} lines ({top})"]
    bad = [
        line
        for line in lines
        if re.search(r"\b(ERROR|CRITICAL|WARNING|Traceback|Exception|Error)\b", line)
    ]
    distinct = list(dict.fromkeys(re.sub(r"\d+", "N", line)[:200] for line in bad))
    if distinct:
        notes.append(f"gateway stderr: {len(bad)} error/warning lines; distinct:")
        notes.extend(f"  {line}" for line in distinct[:8])
    return notes


def load(server: Server, conc: int, duration: float, size: int) -> dict[str, Any]:
    command = [PYTHON, str(ROOT / "bench" / "mail_load.py"), "--port", str(server.smtp_port)]
    command += ["--server-pid", str(server.process.pid), "--concurrency", str(conc)]
    command += ["--duration", str(duration), "--size", str(size)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 120, check=False, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"load client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def drain(server: Server, timeout: float) -> dict[str, Any]:
    """Poll /metrics until all accepted mail is processed; the clock runs from the load's end."""
    accepted = 0.0
    ok = processed = pending = 0.0
    outcomes: dict[str, float] = {}
    at_end: float | None = None
    samples: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    progress_at, last_ok = time.monotonic(), -1.0
    now = time.time()
    while True:
        try:
            samples = read_metrics(server.metrics_port)
        except OSError as exc:  # a slow scrape while the processor works: try again
            server.notes.append(f"/metrics failed while draining: {exc!r}")
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
            continue
        now = time.time()
        accepted = by_label(samples, "gateway_smtp_replies_total", "code").get("250", 0.0)
        outcomes = by_label(samples, "gateway_mail_processed_total", "outcome")
        processed = sum(outcomes.values())
        ok = processed - outcomes.get("error", 0.0)
        pending = samples.get("gateway_mail_pending", 0.0)
        if at_end is None:
            at_end = ok
        if ok != last_ok:
            progress_at, last_ok = time.monotonic(), ok
        if ok >= accepted or time.monotonic() >= deadline:
            break
        if time.monotonic() - progress_at > STALL_SECONDS:
            server.notes.append(f"processing stalled: {ok:.0f} of {accepted:.0f} processed")
            break
        time.sleep(0.25)  # /metrics reads the database too: do not crowd the processor
    return {
        "accepted": int(accepted),
        "processed_at_load_end": int(at_end or 0),
        "processed": int(ok),
        "errors": int(processed - ok),
        "pending_gauge": int(pending),
        "outcomes": {key: int(value) for key, value in sorted(outcomes.items())},
        "drained": ok >= accepted,
        "drained_at": now,
        "smtp_replies": {
            code: int(n)
            for code, n in by_label(samples, "gateway_smtp_replies_total", "code").items()
        },
    }


def one_run(
    target: str, conc: int, duration: float, size: int, drain_timeout: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        workdir = Path(tmp)
        if target.startswith("gateway"):
            opened = gateway(workdir, process_mail=target == "gateway")
        else:
            opened = sink(target, workdir, duration)
        with opened as server:
            time.sleep(0.5)
            idle = rss_kb(server.process.pid)
            result = load(server, conc, duration, size)
            result["server_rss_idle_kb"] = idle
            if target == "gateway-spool":
                replies = by_label(
                    read_metrics(server.metrics_port), "gateway_smtp_replies_total", "code"
                )
                result["smtp_replies"] = {code: int(n) for code, n in replies.items()}
            if target == "gateway":
                processing = drain(server, drain_timeout)
                backlog = processing["accepted"] - processing["processed_at_load_end"]
                drain_s = max(0.0, processing["drained_at"] - result["ended_at"])
                total_s = processing["drained_at"] - result["started_at"]
                processing.update(
                    backlog_at_load_end=backlog,
                    drain_s=round(drain_s, 2),
                    # With the load over, the processor has the process to itself.
                    # (what was processed after the load, drained or not by the deadline)
                    drain_per_s=round(
                        (processing["processed"] - processing["processed_at_load_end"]) / drain_s, 1
                    )
                    if backlog and drain_s > 0.2
                    else None,
                    # Accepting and processing side by side, start of the load to drained.
                    overall_per_s=round(processing["processed"] / total_s, 1),
                    rss_drained_kb=rss_kb(server.process.pid),
                )
                result["processing"] = processing
                if processing["accepted"] != result["sent"]:
                    server.notes.append(
                        f"the gateway counted {processing['accepted']} 250s, "
                        f"the client {result['sent']}"
                    )
        result["notes"] = server.notes
    return result


def median(runs: list[dict[str, Any]], key: str, sub: str | None = None) -> float | None:
    values = [(run.get(sub, {}) if sub else run).get(key) for run in runs]
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours and theirs else "n/a"


def target_met(ours: float | None, fsync: float | None, p99_ms: float | None) -> bool:
    if not ours or not fsync or p99_ms is None:
        return False
    return ours / fsync >= TARGET_RATIO and p99_ms < TARGET_P99_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    parser.add_argument("--reps", type=int, default=1, help="runs per cell; medians shown")
    parser.add_argument("--size", type=int, default=2048, help="bytes per message")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(DEFAULT_TARGETS))
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 10 senders, 3 s")
    args = parser.parse_args()
    if args.quick:
        args.conc, args.duration, args.reps, args.drain_timeout = [1, 10], 3.0, 1, 60.0
    if not (BASELINES / "smtp_sink.py").exists():
        raise SystemExit(f"baselines not found at {BASELINES} (set GATEWAY_BASELINES)")

    load_before = os.getloadavg()[0]
    print(
        f"# {os.cpu_count()} CPUs, load average {load_before:.2f} before the first run", flush=True
    )
    if load_before > 0.5:
        print("#   something else is busy here: absolute figures will be low, ratios noisy")
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for conc in args.conc:
        for rep in range(args.reps):
            for target in args.targets:
                try:
                    result = one_run(target, conc, args.duration, args.size, args.drain_timeout)
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    # Reported, and the table says n/a: the other targets still get measured.
                    result = {"failed": str(exc)[-3000:], "notes": []}
                results.setdefault((target, conc), []).append(result)
                notes = result.pop("notes")
                print(f"# {target} C={conc} rep={rep} {json.dumps(result)}", flush=True)
                for note in notes:
                    print(f"#   {note}", flush=True)

    print(f"# load average {os.getloadavg()[0]:.2f} after the last run", flush=True)
    size = next((r["msg_bytes"] for rs in results.values() for r in rs if "msg_bytes" in r), 0)
    print(
        f"\nAcceptance: {size}-byte messages, connection reused, {args.duration:g} s per run, "
        f"median of {args.reps}; RSS = server peak during the load."
    )
    names = [target for target in TARGETS if target in args.targets]
    head = "| senders |" + "".join(f" {t} msg/s | {t} p50/p99 ms |" for t in names)
    ratios = [f" gateway/{t} |" for t in ("bare", "fsync") if {t, "gateway"} <= set(names)]
    print(head + "".join(ratios) + " RSS MiB " + "/".join(names) + " | errors |")
    print("|---" * (1 + 2 * len(names) + len(ratios) + 2) + "|")
    for conc in args.conc:
        runs = {target: results[(target, conc)] for target in names}
        rate = {target: median(runs[target], "msgs_per_s") for target in names}
        cells = "".join(
            f" {fmt(rate[t])} | {fmt(median(runs[t], 'p50_ms'), 1)} / "
            f"{fmt(median(runs[t], 'p99_ms'), 1)} |"
            for t in names
        )
        cells += "".join(
            f" {ratio(rate['gateway'], rate[t])} |"
            for t in ("bare", "fsync")
            if {t, "gateway"} <= set(names)
        )
        rss = "/".join(fmt((median(runs[t], "server_rss_peak_kb") or 0) / 1024, 0) for t in names)
        errors = "/".join(
            str(sum(run["errors"] for run in runs[t] if "errors" in run))
            + ("+failed" if any("failed" in run for run in runs[t]) else "")
            for t in names
        )
        print(f"| {conc} |{cells} {rss} | {errors} |")

    if {"gateway", "fsync"} <= set(names):
        print(
            f"\nTarget: at {' and '.join(map(str, TARGET_CONC))} senders the gateway accepts "
            f">= {TARGET_RATIO:.1f}x the fsync sink's msg/s, with p99 < {TARGET_P99_MS:g} ms."
        )
        for conc in [c for c in args.conc if c in TARGET_CONC]:
            ours = median(results[("gateway", conc)], "msgs_per_s")
            theirs = median(results[("fsync", conc)], "msgs_per_s")
            p99 = median(results[("gateway", conc)], "p99_ms")
            met = target_met(ours, theirs, p99)
            print(
                f"  {conc} senders: {ratio(ours, theirs)}, p99 {fmt(p99, 1)} ms "
                f"-> {'met' if met else 'NOT met'}"
            )

    if "gateway" in names:
        print(
            "\nProcessing (gateway, in the background during and after each run above; "
            "drain = after the load stopped, until all accepted mail was processed):"
        )
        print(
            "| senders | accepted | processed | backlog at load end | drain s | drain msg/s "
            "| load start to drained msg/s | outcomes | RSS MiB drained |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for conc in args.conc:
            gw_runs = results[("gateway", conc)]
            outcomes = gw_runs[-1].get("processing", {}).get("outcomes", {})
            drained = all(run.get("processing", {}).get("drained") for run in gw_runs)
            drain_s = fmt(median(gw_runs, "drain_s", "processing"), 1)
            print(
                f"| {conc} | {fmt(median(gw_runs, 'accepted', 'processing'))} "
                f"| {fmt(median(gw_runs, 'processed', 'processing'))} "
                f"| {fmt(median(gw_runs, 'backlog_at_load_end', 'processing'))} "
                f"| {drain_s if drained else f'> {args.drain_timeout:g} (NOT drained)'} "
                f"| {fmt(median(gw_runs, 'drain_per_s', 'processing'))} "
                f"| {fmt(median(gw_runs, 'overall_per_s', 'processing'))} "
                f"| {', '.join(f'{k} {v}' for k, v in outcomes.items())} "
                f"| {fmt((median(gw_runs, 'rss_drained_kb', 'processing') or 0) / 1024)} |"
            )


if __name__ == "__main__":
    main()
