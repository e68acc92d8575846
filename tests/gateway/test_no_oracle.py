"""No existence oracle: the answer to a question about a service or an identifier takes the same
work, and so the same time, whether or not an account holds it (issue 11, item 7).

The work is compared exactly, statement by statement; the time through the real chat as two
interleaved distributions, whose medians are printed (`pytest -s`) for the closing note.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from gateway.config import Settings, replace
from gateway.core import Core
from tests.conftest import MovableClock
from tests.gateway.conftest import seed_clients
from tests.gateway.memory_channel import MemoryChat
from tests.live import ChatClient, LiveGateway, live_gateway

KNOWN = "When does example.pl expire?"  # Jan holds it
UNKNOWN = "When does nobody-holds-this.pl expire?"
KNOWN_PESEL = "When does my domain expire? My PESEL is 44051401359"  # Jan's
UNKNOWN_PESEL = "When does my domain expire? My PESEL is 02070803628"  # valid, nobody's
SAVEPOINT_END = re.compile(r"^(RELEASE|ROLLBACK TO) SAVEPOINT \w+")


@contextmanager
def statements(core: Core) -> Iterator[list[str]]:
    """Every statement the turn sends, with its values left out: what work it does."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(SAVEPOINT_END.sub("END SAVEPOINT", " ".join(statement.split())))

    engine = core.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def work_of(core: Core, text: str) -> list[str]:
    client = await MemoryChat(core.pipeline, language="en").open()
    with statements(core) as seen:
        await client.say(text)
    assert "passed to our staff" in client.inbox[-1]  # the same words either way
    return seen


@pytest.mark.parametrize(("known", "unknown"), [(KNOWN, UNKNOWN), (KNOWN_PESEL, UNKNOWN_PESEL)])
async def test_the_same_statements_whether_or_not_it_exists(
    core: Core, clients: dict[str, int], known: str, unknown: str
) -> None:
    await work_of(core, UNKNOWN)  # warm every cache both ways first
    await work_of(core, KNOWN)
    known_work, unknown_work = await work_of(core, known), await work_of(core, unknown)
    assert any("INSERT INTO audit_records" in s for s in known_work)
    assert any("INSERT INTO outbox" in s for s in known_work)
    assert known_work == unknown_work


@pytest.fixture
async def gateway(settings: Settings, clock: MovableClock) -> AsyncIterator[LiveGateway]:
    settings = replace(
        settings,
        staff={"mailbox": "staff@example.net", "webhook_url": "http://127.0.0.1:9/hook"},
    )
    async with live_gateway(settings, clock) as live:
        await seed_clients(live.core)
        yield live


async def answer_ms(gateway: LiveGateway, text: str) -> float:
    visitor = await ChatClient(gateway.url).connect()
    try:
        started = time.perf_counter()
        ack = await visitor.say(text)
        elapsed = (time.perf_counter() - started) * 1000
        assert "id" in ack
        return elapsed
    finally:
        await visitor.close()


async def test_the_answer_takes_as_long_whether_or_not_it_exists(
    gateway: LiveGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Interleaved, so that whatever else the machine does falls on both alike. Before the
    fix the review saw ~37 ms against ~22 ms with no overlap; the work is now the same, so the
    two medians must lie within the spread of either."""
    for _ in range(3):  # warm-up
        await answer_ms(gateway, KNOWN)
        await answer_ms(gateway, UNKNOWN)
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(40):
        known.append(await answer_ms(gateway, KNOWN))
        unknown.append(await answer_ms(gateway, UNKNOWN))
    medians = statistics.median(known), statistics.median(unknown)
    spread = max(_iqr(known), _iqr(unknown))
    with capsys.disabled():
        print(
            f"\nanswer to a question about a held service {medians[0]:.2f} ms, about a service "
            f"no account holds {medians[1]:.2f} ms (median of 40 each; IQR {spread:.2f} ms)"
        )
    assert abs(medians[0] - medians[1]) <= max(spread, 0.2 * max(medians))


def _iqr(samples: list[float]) -> float:
    quartiles = statistics.quantiles(samples, n=4)
    return quartiles[2] - quartiles[0]
