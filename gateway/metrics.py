"""Prometheus metrics, on a registry owned by the app rather than the library's global one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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
        self.smtp_replies = Counter(
            "gateway_smtp_replies",
            "SMTP replies by code: 250 accepted, 451 temporary failure, 550 not our address…",
            ["code"],
            registry=self.registry,
        )
        self.mail_processed = Counter(
            "gateway_mail_processed",
            "Accepted e-mail taken through the pipeline, by outcome",
            ["outcome"],
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
