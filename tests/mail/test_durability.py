"""Nothing accepted is lost: a 250 only after the commit, a 451 (and nothing stored) when the
commit fails, a 451 that names nothing when a hook breaks, and mail accepted just before a
kill -9 processed exactly once after the restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.codes.totp import totp_for
from gateway.config import Settings, replace
from gateway.storage.models import ChangeRequest, InboundMail, SpooledMail
from mail.listener import start_listener
from mail.mailbox import SupportMailbox
from mail.server import SPOOL
from mail.spool import Spool, separate_spool_url
from tests.gateway.conftest import CLIENTS, JAN_SECRET
from tests.mail.conftest import STAFF, SUPPORT, MailGateway, email
from tests.smtp_sink import SmtpSink, free_port

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

REFUSE_INSERTS = {
    "sqlite": [
        "CREATE TRIGGER refuse_mail BEFORE INSERT ON spooled_mail "
        "BEGIN SELECT RAISE(ABORT, 'disk full at /srv/secret'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_mail() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'disk full at /srv/secret'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_mail BEFORE INSERT ON spooled_mail "
        "FOR EACH ROW EXECUTE FUNCTION refuse_mail()",
    ],
}


async def stored_mail(mail_gateway: MailGateway) -> int:
    """Mail in the spool or already processed."""
    async with mail_gateway.live.core.sessions() as session:
        processed = int(await session.scalar(select(func.count(InboundMail.id))) or 0)
    return processed + await mail_gateway.live.server.app[SPOOL].depth()


async def test_a_failed_commit_answers_451_and_stores_nothing(mail_gateway: MailGateway) -> None:
    engine = mail_gateway.live.server.app[SPOOL].engine
    dialect = engine.dialect.name
    async with engine.begin() as connection:
        for statement in REFUSE_INSERTS[dialect]:
            await connection.execute(text(statement))

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await mail_gateway.send(email("Transfer", "Please transfer example.pl."))
    assert refused.value.code == 451
    assert "secret" not in refused.value.message and "disk" not in refused.value.message
    assert await stored_mail(mail_gateway) == 0

    async with engine.begin() as connection:  # the disk has room again: the retry is accepted
        await connection.execute(
            text("DROP TRIGGER refuse_mail" + (" ON spooled_mail" * (dialect == "postgresql")))
        )
    code, _ = await mail_gateway.send(email("Transfer", "Please transfer example.pl."))
    assert code == 250
    assert await stored_mail(mail_gateway) == 1


async def test_data_that_is_not_mail_is_refused_permanently(mail_gateway: MailGateway) -> None:
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await mail_gateway.send(b"GET / HTTP/1.1\r\nHost: example.net\r\n\r\n")
    assert refused.value.code == 554
    assert await stored_mail(mail_gateway) == 0


class BrokenMailbox(SupportMailbox):
    """A hook that fails in a way nobody planned for (the fault is injected on purpose)."""

    async def handle_RCPT(self, *args: Any, **kwargs: Any) -> str:  # noqa: N802
        raise RuntimeError("internal detail /srv/secret")


async def test_an_unexpected_failure_answers_451_without_details(settings: Settings) -> None:
    from gateway.clock import SystemClock
    from gateway.metrics import Metrics

    engine = create_async_engine(settings.database.url)
    spool = Spool(engine, SystemClock(), shared=True)
    mailbox = BrokenMailbox([SUPPORT], spool, Metrics())
    server = await start_listener(replace(settings, smtp={"port": 0}).smtp, mailbox)
    port = server.sockets[0].getsockname()[1]
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        async with client:
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
                await client.sendmail("jan@example.com", [SUPPORT], b"From: a@b.c\r\n\r\nhi\r\n")
            (answer,) = refused.value.recipients
            assert answer.code == 451
            assert "secret" not in answer.message and "RuntimeError" not in answer.message
            assert (await client.noop())[0] == 250  # the session goes on
    finally:
        server.close()
        await spool.close()
        await engine.dispose()


# --- kill -9 between the 250 and the processing ------------------------------------------


class GatewayProcess:
    """`gateway serve` as a real process, killed without warning and started again."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self._config = config
        self._env = {**env, "GATEWAY_METRICS_PORT": "0"}
        self._process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(self._config), *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done

    def start(self, smtp_port: int, **overrides: str) -> None:
        env = {**self._env, **overrides}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(self._config), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), 0.5):
                    return
            except OSError:
                assert self._process.poll() is None, "the gateway exited"
                time.sleep(0.1)
        raise AssertionError("the gateway did not start listening")

    def kill(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()


@pytest.fixture
async def node(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[GatewayProcess, SmtpSink, int]]:
    sink = await SmtpSink().start()
    smtp_port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[data]\ndir = "{tmp_path / "var"}"\n'
        f"[http]\nport = {free_port()}\n"
        f'[smtp]\nport = {smtp_port}\naddresses = ["{SUPPORT}"]\nhostname = "mx.example.net"\n'
        f'[outbound]\nsmtp = "127.0.0.1:{sink.port}"\nsender = "{SUPPORT}"\n'
        f'[staff]\nmailbox = "{STAFF}"\n'
    )
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(CLIENTS))
    process = GatewayProcess(config, {**os.environ, "PYTHONUNBUFFERED": "1"})
    process.command("db", "upgrade")
    process.command("accounts", "import", str(accounts))
    try:
        yield process, sink, smtp_port
    finally:
        process.stop()
        await sink.stop()


async def send(port: int, raw: str) -> str:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    async with client:
        _, answer = await client.sendmail("jan@example.com", [SUPPORT], raw.encode())
    return answer


async def until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_mail_accepted_before_kill_9_is_processed_once_after_restart(
    node: tuple[GatewayProcess, SmtpSink, int], database_url: str
) -> None:
    process, sink, smtp_port = node
    # First life: accept and spool only, so the kill surely falls between the 250 and the work.
    process.start(smtp_port, GATEWAY_SMTP_PROCESS_MAIL="false")
    code = totp_for(JAN_SECRET).now()
    body = f"Please change the DNS of example.pl.\r\nLogin: jan.kowalski\r\nCode: {code}\r\n"
    answer = await send(smtp_port, email("DNS", body))
    assert "queued as" in answer
    process.kill()

    engine = create_async_engine(database_url)
    spool = create_async_engine(separate_spool_url(database_url) or database_url)
    try:
        async with spool.connect() as connection:
            assert await connection.scalar(select(func.count(SpooledMail.id))) == 1
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count(InboundMail.id))) == 0

        process.start(smtp_port)  # second life: processes what the first accepted

        async def forwarded() -> bool:
            return any(STAFF in envelope.rcpt_tos for envelope in sink.envelopes)

        await until(forwarded)
        await asyncio.sleep(1.5)  # a second pass of the processor must not repeat it
        assert sum(STAFF in e.rcpt_tos for e in sink.envelopes) == 1
        async with engine.connect() as connection:
            requests = await connection.scalar(select(func.count(ChangeRequest.id)))
            processed = await connection.scalar(select(func.count(InboundMail.id)))
        async with spool.connect() as connection:
            left = await connection.scalar(select(func.count(SpooledMail.id)))
        assert (requests, processed, left) == (1, 1, 0)
    finally:
        await engine.dispose()
        await spool.dispose()
    process.command("audit", "verify")


async def test_kill_9_in_the_middle_of_a_stream_loses_and_repeats_nothing(
    node: tuple[GatewayProcess, SmtpSink, int], database_url: str
) -> None:
    process, sink, smtp_port = node
    process.start(smtp_port)
    for number in range(8):
        subject = f"Question {number}"
        await send(
            smtp_port,
            email(
                subject, "When does my example.pl expire?", message_id=f"<q{number}@example.com>"
            ),
        )
    process.kill()  # whatever was under way at this instant
    process.start(smtp_port)
    engine = create_async_engine(database_url)
    spool = create_async_engine(separate_spool_url(database_url) or database_url)
    try:

        async def all_processed() -> bool:
            async with spool.connect() as connection:
                pending = await connection.scalar(select(func.count(SpooledMail.id)))
            return pending == 0

        await until(all_processed)
        async with engine.connect() as connection:
            mails = await connection.scalar(select(func.count(InboundMail.id)))
            conversations = await connection.scalar(
                select(func.count()).select_from(text("conversations"))
            )
        assert mails == 8
        assert conversations == 8  # one per mail: none processed twice, none skipped
    finally:
        await engine.dispose()
        await spool.dispose()
    process.command("audit", "verify")
