"""The composition root: every shared part built once from the settings and passed on.

No service locator and no globals: the HTTP app, the SMTP listener, the CLI and the tests all
open a `Core` and hand its parts to whatever needs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.approvals.challenges import Challenges
from gateway.approvals.contact_link import ContactLinks
from gateway.approvals.offers import ApprovalOffers
from gateway.audit.chain import AuditChain
from gateway.clock import Clock, SystemClock
from gateway.codes.verifier import CodeVerifier
from gateway.config import Settings
from gateway.keys import Keys, load_keys
from gateway.metrics import Metrics
from gateway.outbox.queue import Outbox
from gateway.pipeline.approving import PanelDecisions
from gateway.pipeline.client_mail import ClientMail
from gateway.pipeline.conversations import Pipeline
from gateway.pipeline.events import EventHub
from gateway.pipeline.forwarding import Forwarder
from gateway.pipeline.holding import Holds
from gateway.pipeline.notices import AccountNotices
from gateway.pipeline.replies import Replies
from gateway.pipeline.resume import ResumeTokens
from gateway.pipeline.steps import Steps
from gateway.pipeline.transcript_writer import TranscriptWriter
from gateway.pipeline.turn import Voice
from gateway.storage.engine import create_engine, is_sqlite, session_factory, writer_turn
from gateway.storage.schema import ensure_current
from mail.staff_copy import masked_original
from policies import PolicySet


@dataclass(frozen=True, slots=True)
class Core:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keys: Keys
    clock: Clock
    metrics: Metrics
    policies: PolicySet
    outbox: Outbox
    chain: AuditChain
    verifier: CodeVerifier
    pipeline: Pipeline
    replies: Replies
    client_mail: ClientMail
    challenges: Challenges
    offers: ApprovalOffers
    links: ContactLinks


LINK_HOURS = 72  # how long a "not me" link works at least (a cooling-off hold: all of it)


def public_base(settings: Settings) -> str:
    """Where clients reach this gateway's pages: `http.public_url`, else the listener."""
    return settings.http.public_url or f"http://{settings.http.host}:{settings.http.port}"


def load_policies(settings: Settings) -> PolicySet:
    return PolicySet.load(Path(settings.policies.path) if settings.policies.path else None)


@asynccontextmanager
async def open_core(
    settings: Settings, clock: Clock | None = None, *, check_schema: bool = True
) -> AsyncIterator[Core]:
    """Build everything; unless told otherwise, refuse a database whose schema is not current."""
    clock = clock or SystemClock()
    keys = load_keys(settings)
    policies = load_policies(settings)
    engine = create_engine(settings.database.url)
    sessions = session_factory(engine)
    metrics = Metrics()
    outbox = Outbox(clock, keys)
    chain = AuditChain(keys, clock)
    links = ContactLinks(keys, public_base(settings), clock, timedelta(hours=LINK_HOURS))
    notices = AccountNotices(settings.outbound.sender, outbox, clock, links)
    verifier = CodeVerifier(keys.all_secrets, clock, notices)
    forwarder = Forwarder(settings.staff, settings.outbound, chain, outbox, clock, masked_original)
    replies = Replies()
    voice = Voice(replies, clock)
    client_mail = ClientMail(settings.outbound.sender, outbox, replies, clock)
    challenges = Challenges(settings.approvals, clock)
    offers = ApprovalOffers(challenges, replies, outbox, settings.panel.webhook_url)
    holds = Holds(
        verifier,
        forwarder,
        notices,
        voice,
        keys,
        clock,
        metrics,
        settings.requests.hold_hours,
        offers,
    )
    decisions = PanelDecisions(holds, offers, verifier, metrics, clock)
    steps = Steps(holds, voice, policies, chain, client_mail, clock, decisions)
    writer = TranscriptWriter(engine, clock)
    # SQLite: one turn at a time, in line with every other writer of this process;
    # PostgreSQL: as many as its pool has connections.
    slots = writer_turn(engine) if is_sqlite(settings.database.url) else asyncio.Semaphore(10)
    pipeline = Pipeline(
        sessions,
        policies,
        steps,
        EventHub(),
        writer,
        clock,
        slots,
        ResumeTokens(keys),
        challenges,
    )
    try:
        if check_schema:
            await ensure_current(engine)
        yield Core(
            settings,
            engine,
            sessions,
            keys,
            clock,
            metrics,
            policies,
            outbox,
            chain,
            verifier,
            pipeline,
            replies,
            client_mail,
            challenges,
            offers,
            links,
        )
    finally:
        await pipeline.close_writer()
        await engine.dispose()
