"""Takes spooled mail through the pipeline, exactly once: the turn, the auto-reply it causes and
the mail's record (keyed by its spool key) commit in one transaction, so a crash before the
commit means the mail is simply processed again after the restart, and a crash after it means
it is done; its spool row is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.clock import Clock
from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.own_words import without_ours
from gateway.pipeline.client_mail import ClientMail
from gateway.pipeline.conversations import AfterCommit, Pipeline
from gateway.pipeline.model import Inbound, Outcome, Stage
from gateway.storage.engine import interactive_waiting, writer_turn
from gateway.storage.models import AutoReply, Conversation, InboundMail, SpooledMail
from mail import threads
from mail.auto_reply import is_automatic, under_rate_limit
from mail.parse import ParsedMail, parse_mail, thread_ids
from mail.sender_auth import SenderAuth, aligned, from_authentication_results, verify_dkim
from mail.spool import MAX_FAILURES, Spool, Waiting
from policies import Channel, PolicySet

log = logging.getLogger(__name__)
BATCH = 10  # mails per transaction: one commit for all, and still a short hold of the lock
POLL_SECONDS = 1.0
YIELD_WHILE_ACCEPTING = 9  # processing gets a tenth of the time during a flood
LARGE_MAIL_BYTES = 256 * 1024  # parsed off the event loop above this size
# Failures that say nothing about the mail (the database or the disk away): worth retrying.
# Any other comes from its content, and the same content fails the same way again.
RETRYABLE = (DBAPIError, OSError, TimeoutError)
FAILED = "failed: "  # InboundMail.outcome of a mail handed to a human unread
FAILED_TEXT = (
    "[The gateway could not read this e-mail ({reason}); nothing in it was classified, so "
    "none of it is shown here. Its original is kept: `gateway mail failed` lists it as mail "
    "{mail}. Answer the sender only through a new verified request.]"
)


@dataclass(frozen=True, slots=True)
class _Prepared:
    mail: Waiting
    parsed: ParsedMail
    authentication: SenderAuth


@dataclass(frozen=True, slots=True)
class _Thread:
    conversation: str
    sender: str


class MailProcessor:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        pipeline: Pipeline,
        policies: PolicySet,
        client_mail: ClientMail,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        spool: Spool,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._pipeline = pipeline
        self._policies = policies
        self._client_mail = client_mail
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._spool = spool

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Until `stopping` is set; a batch under way commits first."""
        stopping = stopping or asyncio.Event()
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            self._spool.stored.clear()
            started, arrived_before = loop.time(), self._spool.stored_count
            try:
                done = await self.process_pending()
            except Exception:  # e.g. the database is away: nothing is lost, the spool waits
                log.exception("mail processing pass failed")
                done = 0
            if done:
                if self._spool.stored_count - arrived_before > done:
                    # A flood: mail arrives faster than it is processed. Taking it in comes
                    # first (a sender waits for its 250, the backlog does not), so step aside
                    # for a while; a trickle is simply kept up with.
                    await asyncio.sleep((loop.time() - started) * YIELD_WHILE_ACCEPTING)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._spool.stored.wait(), POLL_SECONDS)

    async def process_pending(self) -> int:
        """One batch of what is waiting; returns how many mails were taken up."""
        waiting = await self._spool.waiting(BATCH)
        self._spool.pending = len(waiting) if len(waiting) < BATCH else await self._spool.depth()
        if not waiting:
            return 0
        # Read each mail before the transaction: parsing and DKIM (DNS) take time, and the
        # transaction holds SQLite's write lock.
        prepared: list[_Prepared] = []
        unprepared: list[tuple[Waiting, Exception]] = []
        for mail in waiting:
            try:
                prepared.append(await self._prepare(mail))
            except Exception as exc:  # a bug in reading it: this mail fails, not the pass
                log.error("mail %s could not be read: %s", mail.id, type(exc).__name__)
                unprepared.append((mail, exc))
        finished, failed, turns = await self._process_batch(prepared)
        failed = unprepared + failed
        if not self._spool.shared:
            await self._spool.remove(finished)
        for mail, failure in failed:
            self._metrics.mail_processed.labels("error").inc()
            retrying = isinstance(failure, RETRYABLE)
            if retrying and await self._spool.count_failure(mail.id) < MAX_FAILURES:
                continue
            turns.extend(await self._to_a_human(mail, type(failure).__name__))
        for outcome, after_commit in turns:
            await after_commit()
            self._metrics.mail_processed.labels(outcome.status.stage.value).inc()
        return len(waiting)

    async def _prepare(self, mail: Waiting) -> _Prepared:
        await asyncio.sleep(0)  # parsing is CPU work: let the SMTP sessions in between mails
        parsed = await self._parse(mail.raw)
        return _Prepared(mail, parsed, await self._sender_authentication(mail, parsed))

    async def _process_batch(
        self, batch: list[_Prepared]
    ) -> tuple[list[int], list[tuple[Waiting, Exception]], list[tuple[Outcome, AfterCommit]]]:
        """The batch in one transaction (one commit, one fsync), each mail in a savepoint of
        its own so that one which fails is rolled back alone and retried later.

        Each mail's record has a unique spool key: that is what makes processing exactly
        once. A mail whose record exists is done, and only its spool row is left to remove (a
        crash came between the commit and the removal)."""
        finished: list[int] = []
        failed: list[tuple[Waiting, Exception]] = []
        turns: list[tuple[Outcome, AfterCommit]] = []
        async with writer_turn(self._engine, background=True), self._sessions.begin() as session:
            for item in batch:
                if finished and interactive_waiting(self._engine):
                    break  # a chat turn waits: commit these, the rest come next pass
                mail = item.mail
                try:
                    async with session.begin_nested():
                        if self._spool.shared and not await self._claim(session, mail):
                            continue  # another node has it
                        done = await session.scalar(
                            select(InboundMail.id).where(InboundMail.spool_key == mail.key)
                        )
                        if done is None:
                            turns.append(await self._turn(session, item))
                except Exception as exc:
                    log.error("mail %s failed: %s", mail.id, type(exc).__name__)
                    failed.append((mail, exc))
                    continue
                finished.append(mail.id)
            if self._spool.shared and finished:
                await session.execute(delete(SpooledMail).where(SpooledMail.id.in_(finished)))
        return finished, failed, turns

    async def _to_a_human(self, mail: Waiting, reason: str) -> list[tuple[Outcome, AfterCommit]]:
        """A mail that cannot be processed, after its retries (or at once, when retrying the
        same content cannot help) still reaches staff, marked for a human, by a path that reads
        nothing of it: a fixed text of ours, no auto-reply (its sender is unproven), and no copy
        of its content (nothing of it was classified); the original stays for the audit export
        and `gateway mail failed` lists it. Exactly once, like any mail."""
        try:
            async with (
                writer_turn(self._engine, background=True),
                self._sessions.begin() as session,
            ):
                if self._spool.shared and not await self._claim(session, mail):
                    return []
                if await session.scalar(
                    select(InboundMail.id).where(InboundMail.spool_key == mail.key)
                ):
                    turn: list[tuple[Outcome, AfterCommit]] = []
                else:
                    turn = [await self._failed_turn(session, mail, reason)]
                if self._spool.shared:
                    await session.execute(delete(SpooledMail).where(SpooledMail.id == mail.id))
        except Exception:
            log.exception("mail %s could not be handed to staff; `gateway mail failed`", mail.id)
            await self._spool.count_failure(mail.id)
            return []
        if not self._spool.shared:
            await self._spool.remove([mail.id])
        self._metrics.mail_failed.labels(reason).inc()
        log.error("mail %s could not be processed (%s): sent to staff for a human", mail.id, reason)
        return turn

    async def _failed_turn(
        self, session: AsyncSession, mail: Waiting, reason: str
    ) -> tuple[Outcome, AfterCommit]:
        record = await self._record(session, mail, outcome=f"{FAILED}{reason}"[:32])
        sender = _envelope_sender(mail)
        opened = await self._pipeline.open_within(session, Channel.EMAIL, sender, "en", "")
        inbound = Inbound(
            Channel.EMAIL,
            opened.status.conversation,
            text=FAILED_TEXT.format(mail=record.id, reason=reason),
            client=sender,
            needs_human=True,
        )
        outcome, after_commit = await self._pipeline.handle_within(session, inbound)
        record.conversation_id = outcome.status.conversation
        return outcome, after_commit

    async def _record(self, session: AsyncSession, mail: Waiting, outcome: str = "") -> InboundMail:
        """The mail's record, with its original: written first, because its unique spool key
        is where a second node racing for this mail stops."""
        record = InboundMail(
            spool_key=mail.key,
            received_at=mail.received_at,
            processed_at=self._clock.now(),
            peer=mail.peer,
            envelope_from=mail.envelope_from,
            envelope_to=mail.envelope_to,
            raw=mail.raw,
            outcome=outcome,
        )
        session.add(record)
        await session.flush()
        return record

    @staticmethod
    async def _claim(session: AsyncSession, mail: Waiting) -> bool:
        """Lock the spool row for this transaction; SKIP LOCKED leaves it to a node that has it."""
        claimed = await session.scalar(
            select(SpooledMail.id)
            .where(SpooledMail.id == mail.id)
            .with_for_update(skip_locked=True)
        )
        return claimed is not None

    async def _parse(self, raw: bytes) -> ParsedMail:
        if len(raw) > LARGE_MAIL_BYTES:
            return await asyncio.to_thread(parse_mail, raw)
        return parse_mail(raw)

    async def _turn(self, session: AsyncSession, item: _Prepared) -> tuple[Outcome, AfterCommit]:
        mail, parsed = item.mail, item.parsed
        now = self._clock.now()
        record = await self._record(session, mail)
        envelope_from = _envelope_sender(mail)
        thread = await self._thread(session, parsed, envelope_from)
        await threads.remember_message(session, parsed.message_id, thread.conversation, now)
        # Everything a mail client shows is classified, except what we wrote ourselves.
        ours = await threads.own_words(session, thread_ids(parsed))
        inbound = Inbound(
            Channel.EMAIL,
            thread.conversation,
            text=parsed.body,
            client=thread.sender,
            sender_authentication=item.authentication.value,
            mail_id=record.id,
            needs_human=parsed.needs_human,
            shown=without_ours(parsed.shown, ours),
        )
        outcome, after_commit = await self._pipeline.handle_within(session, inbound)
        record.conversation_id = outcome.status.conversation
        record.outcome = outcome.status.stage.value
        if outcome.replies and not is_automatic(parsed, envelope_from):
            await self._auto_reply(session, parsed, envelope_from, thread, outcome)
        return outcome, after_commit

    async def _thread(
        self, session: AsyncSession, parsed: ParsedMail, envelope_from: str
    ) -> _Thread:
        sender = envelope_from or (parsed.from_address or "").lower()
        found = await threads.find_thread(session, sender, parsed.subject, thread_ids(parsed))
        if found is not None:
            conversation = await session.get(Conversation, found)
            # A closed thread is not reopened: the client's new mail starts a new conversation.
            if conversation is not None and conversation.stage != Stage.CLOSED:
                return _Thread(found, sender)
        language = parsed.language_hint or self._policies.recognize(parsed.body).language
        opened = await self._pipeline.open_within(
            session, Channel.EMAIL, sender, language, parsed.subject
        )
        return _Thread(opened.status.conversation, sender)

    async def _sender_authentication(self, mail: Waiting, parsed: ParsedMail) -> SenderAuth:
        """A verdict on the From domain, which counts only when that domain is the client's:
        the client is the envelope sender, and an attacker's own signed From must not pass for
        someone else's envelope."""
        client = _envelope_sender(mail) or parsed.from_address or ""
        if not aligned(client.rpartition("@")[2], parsed.from_domain):
            return SenderAuth.NONE
        smtp, raw = self._settings.smtp, mail.raw
        if smtp.trusted_authserv_id:
            result = from_authentication_results(raw, smtp.trusted_authserv_id, parsed.from_domain)
            if result is not SenderAuth.NONE or not smtp.verify_dkim:
                return result
        if smtp.verify_dkim:
            return await asyncio.to_thread(verify_dkim, raw, parsed.from_domain)
        return SenderAuth.NONE

    async def _auto_reply(
        self,
        session: AsyncSession,
        parsed: ParsedMail,
        recipient: str,
        thread: _Thread,
        outcome: Outcome,
    ) -> None:
        limit = self._settings.smtp.auto_replies_per_hour
        if not await under_rate_limit(session, recipient, limit, self._clock.now()):
            log.debug("auto-reply withheld: the hourly limit for this sender is reached")
            return
        conversation = await session.get(Conversation, thread.conversation)
        if conversation is None:
            return
        await self._client_mail.send(
            session,
            conversation,
            [reply.text for reply in outcome.replies],
            ticket=outcome.status.ticket,
            automatic=True,
            recipient=recipient,
            replying_to=parsed.message_id,
            references=parsed.references,
        )
        session.add(AutoReply(recipient=recipient, sent_at=self._clock.now()))


def _envelope_sender(mail: Waiting) -> str:
    """MAIL FROM as an address: the client of an e-mail conversation (empty for bounces)."""
    return mail.envelope_from.strip().strip("<>").lower()
