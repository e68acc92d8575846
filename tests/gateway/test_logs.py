"""The log: one JSON object per line that client text cannot forge, with no secrets in it —
checked on the formatter, then on the real server run as an operator runs it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.smtp import Envelope

from gateway.cli import main
from gateway.codes.totp import totp_for
from gateway.config import ConfigError, LogSettings, load_settings
from gateway.logs import fields, formatter
from tests.gateway.conftest import CLIENTS, JAN_SECRET
from tests.live import ChatClient
from tests.smtp_sink import SmtpSink, free_port

FORGED = '\r\n{"level":"info","event":"forged"}\n'
BASE_KEYS = {"ts", "level", "logger", "event"}
Captured = tuple[logging.Logger, io.StringIO, io.StringIO]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A logger of ours writing through both formats, not through the test run's root."""
    json_out, text_out = io.StringIO(), io.StringIO()
    logger = logging.getLogger("gateway.test_logs")
    handlers = []
    for out, kind in ((json_out, "json"), (text_out, "text")):
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter(LogSettings(format=kind)))
        logger.addHandler(handler)
        handlers.append(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, json_out, text_out
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.propagate = True


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_crlf_in_a_message_or_a_field_stays_inside_one_line(captured: Captured) -> None:
    logger, json_out, text_out = captured
    logger.info("client said %s", FORGED, extra=fields(note=FORGED, count=3))
    logger.info("separators\u2028\u2029\x85\x0b\x0c\x1c end")
    written = lines(json_out)
    assert len(written) == 2  # str.splitlines() breaks at U+2028, NEL and friends as well
    event = json.loads(written[0])
    assert set(event) == BASE_KEYS | {"note", "count"}
    assert event["event"] == f"client said {FORGED}"
    assert event["note"] == FORGED and event["count"] == 3
    assert event["level"] == "info" and event["logger"] == "gateway.test_logs"
    assert event["ts"].endswith("Z") and "T" in event["ts"]
    assert json.loads(written[1])["event"] == "separators\u2028\u2029\x85\x0b\x0c\x1c end"
    assert len(lines(text_out)) == 2
    assert "forged" in lines(text_out)[0]  # escaped, on the same line


def test_a_field_cannot_overwrite_the_base_keys(captured: Captured) -> None:
    logger, json_out, _ = captured
    logger.warning("real", extra=fields(event="forged", level="debug"))
    event = json.loads(json_out.getvalue())
    assert event["event"] == "real" and event["level"] == "warning"
    assert event["field_event"] == "forged" and event["field_level"] == "debug"


def test_an_exception_is_logged_by_type_and_frames_never_by_its_text(captured: Captured) -> None:
    logger, json_out, text_out = captured
    secret = "login jan.kowalski code 123456"

    def fail() -> None:
        try:
            raise KeyError(secret)
        except KeyError as exc:
            raise ValueError(f"bad input: {secret}") from exc

    try:
        fail()
    except ValueError:
        logger.exception("turn failed")
    for out in (json_out, text_out):
        assert secret not in out.getvalue() and "123456" not in out.getvalue()
        assert len(lines(out)) == 1
    event = json.loads(json_out.getvalue())
    assert event["exc_type"] == "ValueError" and event["exc_cause"] == "KeyError"
    assert any(frame.endswith(" fail") for frame in event["stack"])
    assert all("test_logs.py:" in frame for frame in event["stack"])


def test_other_libraries_give_their_first_line_redacted() -> None:
    record = logging.LogRecord(
        "asyncio",
        logging.ERROR,
        __file__,
        1,
        "Task exception was never retrieved, code 654321\nfuture: <Task exception=X('%s')>",
        ("client text",),
        None,
    )
    event = json.loads(formatter(LogSettings()).format(record))
    assert event["event"] == "Task exception was never retrieved, code [code]"
    ours = logging.LogRecord("mail.processor", logging.INFO, __file__, 1, "mail 1234567", (), None)
    assert json.loads(formatter(LogSettings()).format(ours))["event"] == "mail 1234567"
    smtpd = logging.LogRecord("mail.log", logging.WARNING, __file__, 1, "code 654321", (), None)
    assert json.loads(formatter(LogSettings()).format(smtpd))["event"] == "code [code]"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_LOG_LEVEL": "verbose"}, "config key 'log.level'"),
        ({"GATEWAY_LOG_FORMAT": "xml"}, "config key 'log.format'"),
    ],
)
def test_an_unknown_level_or_format_names_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    settings = load_settings(None, {"GATEWAY_LOG_LEVEL": "DEBUG", "GATEWAY_LOG_FORMAT": "text"})
    assert (settings.log.level, settings.log.format) == ("DEBUG", "text")


# -- the real server ----------------------------------------------------------------------------


class RefusingRelay(SmtpSink):
    """A relay that refuses every recipient: its refusal names the address, which the
    gateway must keep out of its log."""

    refused: list[str]

    async def handle_RCPT(  # noqa: N802 - aiosmtpd finds hooks by this exact name
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.refused.append(address)
        return f"550 5.1.1 <{address}>: mailbox unavailable"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A config for `gateway serve` on free ports, its schema and one client account."""
    http_port, smtp_port, relay_port = free_port(), free_port(), free_port()
    metrics_port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[data]\ndir = "{tmp_path / "var"}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "gateway.db"}"\n'
        f"[http]\nport = {http_port}\n"
        f"[smtp]\nport = {smtp_port}\n"
        f"[metrics]\nport = {metrics_port}\n"
        f'[outbound]\nsmtp = "127.0.0.1:{relay_port}"\n'
        f'[staff]\nmailbox = "staff@example.net"\n'
        f'[log]\nlevel = "debug"\n'
    )
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(CLIENTS[:1]))
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert main(["--config", str(config), "accounts", "import", str(accounts)]) == 0
    yield {
        "config": config,
        "url": f"http://127.0.0.1:{http_port}",
        "metrics_url": f"http://127.0.0.1:{metrics_port}",
        "smtp_port": smtp_port,
        "relay_port": relay_port,
        "stderr": tmp_path / "stderr.log",
    }


async def wait_until_healthy(url: str, process: subprocess.Popen[bytes], stderr: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, stderr.read_text()
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the gateway did not come up: {stderr.read_text()}")


def send_mail(port: int, body: str) -> None:
    message = EmailMessage()
    message["From"] = "Jan <jan@example.com>"
    message["To"] = "support@example.net"
    message["Subject"] = "Domain transfer"
    message["Message-ID"] = "<logs-1@example.com>"
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


async def metric(url: str, prefix: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


async def eventually(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_the_served_log_is_json_lines_without_secrets(served: dict[str, Any]) -> None:
    relay = RefusingRelay(port=served["relay_port"])
    relay.refused = []
    await relay.start()
    stderr_path: Path = served["stderr"]
    url: str = served["url"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(served["config"]), "serve"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environ,
        )
    code = totp_for(JAN_SECRET).now()
    phrase = "zebra-marmalade"
    try:
        await wait_until_healthy(url, process, stderr_path)
        visitor = await ChatClient(url).connect()
        try:
            await visitor.say(f"please transfer example.pl to another registrar, {phrase}")
            await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
            assert await visitor.credentials("jan.kowalski", "246813") == {"ok": False}
            assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
            await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
            ack = await visitor.say(f"thanks{FORGED}my PESEL is 44051401359 {phrase}")
            assert isinstance(ack.get("id"), int)
        finally:
            await visitor.close()
        body = f"Login: jan.kowalski\nCode: 975310\n{phrase}{FORGED}"
        await asyncio.to_thread(send_mail, served["smtp_port"], body)

        async def mail_processed() -> bool:
            return await metric(served["metrics_url"], "gateway_mail_processed_total") >= 1

        async def client_address_refused() -> bool:
            logged = stderr_path.read_text()
            return "jan@example.com" in relay.refused and "outbox delivery failed" in logged

        await eventually(mail_processed)
        await eventually(client_address_refused)
        chat = 'gateway_verifications_total{channel="chat"'
        assert await metric(served["metrics_url"], chat) == 2
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as public:
            assert public.status == 404  # never on the public port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
            await relay.stop()
    assert returncode == 0, stderr_path.read_text()

    logged = stderr_path.read_text(encoding="utf-8")
    events = [json.loads(line) for line in logged.splitlines()]  # every line is JSON …
    assert events and all(isinstance(e, dict) and set(e) >= BASE_KEYS for e in events)
    for secret in (code, "246813", "975310", "jan.kowalski", "jan@example.com", phrase):
        assert secret not in logged, secret
    assert "44051401359" not in logged
    assert not any(e["event"] == "forged" for e in events)  # … and none is forged
    failed = [e for e in events if e["event"] == "outbox delivery failed"]
    assert failed and all({"item", "attempt", "error"} <= set(e) for e in failed)
    assert any(e["error"] == "SMTPRecipientsRefused" for e in failed)
