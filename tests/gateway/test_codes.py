"""Code checks through the real verifier on both databases: windows, replay, single use,
ticket binding, lockout, and concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

from sqlalchemy import select

from gateway.codes.issuing import issue_panel_code
from gateway.codes.totp import CHAT_WINDOW, EMAIL_WINDOW, TotpWindow, totp_for
from gateway.codes.verifier import CodeCheck, CodeVerifier, Failure
from gateway.core import Core
from gateway.pipeline.notices import AccountNotices
from gateway.storage.engine import create_engine, session_factory
from gateway.storage.models import Account, OutboxItem, PanelCode
from tests.conftest import MovableClock
from tests.gateway.conftest import ANNA_SECRET, JAN_SECRET


def totp(secret: str, clock: MovableClock, steps: int = 0) -> str:
    return totp_for(secret).at(clock.now() + timedelta(seconds=30 * steps))


async def check(
    core: Core,
    login: str,
    code: str,
    window: TotpWindow = CHAT_WINDOW,
    ticket: str | None = None,
    holders: frozenset[int] | None = None,
) -> CodeCheck:
    async with core.sessions.begin() as session:
        return await core.verifier.check(
            session, login, code, window=window, ticket=ticket, holders=holders
        )


async def panel_code(core: Core, login: str, ticket: str | None = None) -> str:
    async with core.sessions.begin() as session:
        issued = await issue_panel_code(session, core.keys.secret, core.clock, login, ticket)
    return issued.code


async def test_a_current_totp_is_accepted_once(core: Core, clients: dict[str, int], clock) -> None:
    code = totp(JAN_SECRET, clock)
    first = await check(core, "jan.kowalski", code)
    assert first.accepted and first.method == "totp"
    assert first.account_id == clients["jan.kowalski"]
    again = await check(core, "jan.kowalski", code)
    assert again.failure is Failure.REPLAYED


async def test_an_older_step_is_refused_after_a_newer_one(core: Core, clients, clock) -> None:
    newer, older = totp(JAN_SECRET, clock), totp(JAN_SECRET, clock, steps=-1)
    assert (await check(core, "jan.kowalski", newer)).accepted
    assert (await check(core, "jan.kowalski", older, EMAIL_WINDOW)).failure is Failure.REPLAYED


async def test_windows_differ_per_channel(core: Core, clients, clock) -> None:
    nine_minutes_old = totp(ANNA_SECRET, clock, steps=-18)
    assert (await check(core, "anna.nowak", nine_minutes_old)).failure is Failure.WRONG_CODE
    assert (await check(core, "anna.nowak", nine_minutes_old, EMAIL_WINDOW)).accepted
    eleven_minutes_old = totp(JAN_SECRET, clock, steps=-22)
    result = await check(core, "jan.kowalski", eleven_minutes_old, EMAIL_WINDOW)
    assert result.failure is Failure.WRONG_CODE
    assert (await check(core, "jan.kowalski", totp(JAN_SECRET, clock, steps=1))).accepted


async def test_unknown_login_and_holder_mismatch_are_refusals(core: Core, clients, clock) -> None:
    assert (await check(core, "nobody", "123456")).failure is Failure.UNKNOWN_LOGIN
    not_anna = frozenset({clients["jan.kowalski"]})
    code = totp(ANNA_SECRET, clock)
    result = await check(core, "anna.nowak", code, holders=not_anna)
    assert result.failure is Failure.NOT_HOLDER
    # Not spent: the same code still works where Anna is a holder.
    assert (await check(core, "anna.nowak", code, holders=frozenset(clients.values()))).accepted


async def test_panel_codes_are_single_use_and_hashed(core: Core, clients, clock) -> None:
    code = await panel_code(core, "jan.kowalski")
    assert len(code) == 8 and code.isdigit()
    async with core.sessions() as session:
        stored = (await session.scalars(select(PanelCode))).one()
    assert code not in stored.code_hash
    result = await check(core, "jan.kowalski", code)
    assert result.accepted and result.method == "panel_code"
    assert (await check(core, "jan.kowalski", code)).failure is Failure.WRONG_CODE


async def test_panel_codes_expire_after_15_minutes(core: Core, clients, clock) -> None:
    code = await panel_code(core, "jan.kowalski")
    clock.advance(minutes=15, seconds=1)
    assert (await check(core, "jan.kowalski", code)).failure is Failure.WRONG_CODE


async def test_a_ticket_bound_code_verifies_only_its_ticket(core: Core, clients, clock) -> None:
    from gateway.storage.models import ChangeRequest, Conversation

    now = clock.now()
    async with core.sessions.begin() as session:
        session.add(Conversation(id="c1", channel="chat", created_at=now, updated_at=now))
        await session.flush()
        for ticket in ("T-AAAAAA", "T-BBBBBB"):
            session.add(
                ChangeRequest(
                    ticket=ticket,
                    conversation_id="c1",
                    channel="chat",
                    intent="dns_change",
                    stage_required="authenticated",
                    status="held",
                    created_at=now,
                )
            )
    code = await panel_code(core, "jan.kowalski", "T-AAAAAA")
    wrong = await check(core, "jan.kowalski", code, ticket="T-BBBBBB")
    assert wrong.failure is Failure.OTHER_TICKET
    assert (await check(core, "jan.kowalski", code, ticket="T-AAAAAA")).accepted


async def test_five_failures_lock_even_a_right_code(
    core: Core, clients, clock, settings, tmp_path: Path
) -> None:
    for _ in range(4):
        assert not (await check(core, "jan.kowalski", "000000")).locked_now
    fifth = await check(core, "jan.kowalski", "000000")
    assert fifth.locked_now
    right = await check(core, "jan.kowalski", totp(JAN_SECRET, clock))
    assert right.failure is Failure.LOCKED
    right_panel = await check(core, "jan.kowalski", await panel_code(core, "jan.kowalski"))
    assert right_panel.failure is Failure.LOCKED
    async with core.sessions() as session:
        notices = (await session.scalars(select(OutboxItem))).all()
    assert len(notices) == 1
    notice = message_from_bytes(notices[0].payload)
    assert notice["To"] == "jan@example.com"
    assert "zablokowana" in notice["Subject"]
    clock.advance(minutes=15, seconds=1)
    assert (await check(core, "jan.kowalski", totp(JAN_SECRET, clock))).accepted


async def test_a_success_resets_the_failure_count(core: Core, clients, clock) -> None:
    for _ in range(4):
        await check(core, "jan.kowalski", "000000")
    assert (await check(core, "jan.kowalski", totp(JAN_SECRET, clock))).accepted
    for _ in range(4):
        assert not (await check(core, "jan.kowalski", "000000")).locked_now
    async with core.sessions() as session:
        account = await session.scalar(select(Account).where(Account.login == "jan.kowalski"))
    assert account is not None and account.failed_attempts == 4


async def test_concurrent_checks_of_one_code_admit_exactly_one(
    core: Core, clients, clock, settings
) -> None:
    """Twenty connections, each its own engine, race to spend the same TOTP and panel code."""
    notices = AccountNotices("support@example.net", core.outbox, clock)
    engines = [create_engine(settings.database.url) for _ in range(20)]
    verifier = CodeVerifier(core.keys.all_secrets, clock, notices)

    async def one(engine, code: str) -> bool:  # type: ignore[no-untyped-def]
        async with session_factory(engine).begin() as session:
            result = await verifier.check(
                session, "jan.kowalski", code, window=CHAT_WINDOW, ticket=None, holders=None
            )
        return result.accepted

    try:
        for code in (totp(JAN_SECRET, clock), await panel_code(core, "jan.kowalski")):
            results = await asyncio.gather(*(one(engine, code) for engine in engines))
            assert sum(results) == 1
            async with core.sessions.begin() as session:  # unlock for the next round
                account = await session.scalar(
                    select(Account).where(Account.login == "jan.kowalski")
                )
                assert account is not None
                account.failed_attempts, account.locked_until = 0, None
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
