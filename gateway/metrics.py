"""Prometheus metrics, on a registry owned by the app rather than the library's global one."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from gateway.clock import Clock


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "gateway_verifications",
            "Code checks by result; reason says why a check was refused",
            ["channel", "result", "reason"],
            registry=self.registry,
        )
        self.lockouts = Counter(
            "gateway_lockouts",
            "Verification lockouts: an account after 5 failures, or a conversation after 5",
            ["scope"],
            registry=self.registry,
        )
        self.requests = Counter(
            "gateway_requests",
            "Requests taken from clients, by recognised intent and channel",
            ["intent", "channel"],
            registry=self.registry,
        )
        self.forwarded = Counter(
            "gateway_forwarded",
            "Requests forwarded to staff, by verification level",
            ["channel", "verification"],
            registry=self.registry,
        )
        self.approvals = Counter(
            "gateway_approvals",
            "Decisions on approval challenges in the Client Panel: approved, wrong_number, "
            "expired, denied",
            ["channel", "result"],
            registry=self.registry,
        )
        self.denials = Counter(
            "gateway_denials",
            "Held requests the account holder said they did not make (panel or notice link)",
            ["channel", "via"],
            registry=self.registry,
        )
        self.smtp_replies = Counter(
            "gateway_smtp_replies",
            "SMTP replies by code: 250 a mail taken (stored), and every refusal or failure, "
            "e.g. 451 temporary failure, 550 not our address, 552 too large",
            ["code"],
            registry=self.registry,
        )
        self.mail_processed = Counter(
            "gateway_mail_processed",
            "Accepted e-mail taken through the pipeline, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.mail_failed = Counter(
            "gateway_mail_failed",
            "Accepted e-mail that could not be processed and went to staff unread, for a "
            "human (`gateway mail failed` lists them), by the failure",
            ["reason"],
            registry=self.registry,
        )
        self.mail_pending = Gauge(
            "gateway_mail_pending",
            "Accepted e-mail not yet processed (a backlog shows here)",
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "gateway_outbox_depth", "Deliveries not yet made", registry=self.registry
        )
        self.outbox_oldest_age = Gauge(
            "gateway_outbox_oldest_age_seconds",
            "Age of the oldest undelivered item",
            registry=self.registry,
        )
        self.socketio_connections = Gauge(
            "gateway_socketio_connections",
            "Open socket.io connections on this node, by namespace: chat (visitors) or staff",
            ["namespace"],
            registry=self.registry,
        )
        for namespace in ("chat", "staff"):
            self.socketio_connections.labels(namespace)  # present at 0 before the first one

    def outbox_observed(self, depth: int, oldest: datetime | None, clock: Clock) -> None:
        """What the outbox worker found. The age is worked out at each scrape, so an outbox
        whose worker is stuck (the database away) shows as ever older, never as frozen."""
        self.outbox_depth.set(depth)

        def age() -> float:
            return 0.0 if oldest is None else max((clock.now() - oldest).total_seconds(), 0.0)

        self.outbox_oldest_age.set_function(age)

    def render(self) -> bytes:
        return generate_latest(self.registry)
