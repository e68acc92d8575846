"""Settings: one TOML file, every key overridable by GATEWAY_<SECTION>_<KEY>.

Operators deploy with environment variables as often as with files, so both feed the same typed
schema; anything the schema does not know is an error rather than a silently ignored typo.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from gateway.rates import RateSyntaxError, parse_rate

DEFAULT_CONFIG_FILE = Path("gateway.toml")
ENV_PREFIX = "GATEWAY_"


class ConfigError(Exception):
    """A configuration problem an operator must fix; its text is one line naming the key."""


@dataclass(frozen=True, slots=True)
class DataSettings:
    dir: str = "var"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = "sqlite+aiosqlite:///var/gateway.db"


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = ""
    prefix: str = "gateway"  # of its pub/sub channels: two gateways may share one Redis


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    trusted_proxies: list[str] = field(default_factory=list)  # whose X-Forwarded-For to believe

    def __post_init__(self) -> None:
        _check_networks("http.trusted_proxies", self.trusted_proxies)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """/metrics on a listener of its own, never the public port: its counters (refusals by
    reason, lockouts) are for the operator's Prometheus, not for whoever reaches the chat."""

    host: str = "127.0.0.1"
    port: int = 9180


@dataclass(frozen=True, slots=True)
class ChatSettings:
    allowed_origins: list[str] = field(default_factory=list)
    max_message_length: int = 4000
    rate_limit: str = "20/10s"


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 8025
    addresses: list[str] = field(default_factory=lambda: ["support@example.net"])
    max_message_size: int = 26214400
    hostname: str = ""  # announced in the banner and HELO; empty: the machine's name
    idle_timeout: int = 300
    max_commands: int = 100  # per command verb and session, against slow brute force
    tls_cert: str = ""  # PEM files; both set: STARTTLS is offered
    tls_key: str = ""
    proxy_protocol_from: list[str] = field(default_factory=list)  # peers allowed to send PROXY
    trusted_authserv_id: str = ""  # whose Authentication-Results to believe; empty: nobody's
    verify_dkim: bool = False  # check DKIM ourselves when no trusted MTA is in front
    process_mail: bool = True  # false: accept and spool only (another node processes)
    auto_replies_per_hour: int = 10  # per sender: a loop or a flood stays small, a dialogue fits
    # Intake limits (mail/intake.py), per node: mails one envelope sender, and one connecting
    # address, may hand over (empty: no limit; behind the provider's own MTA every mail comes
    # from it, so the address limit is off by default), and accepted mail waiting to be read.
    sender_rate: str = "30/1m"
    peer_rate: str = ""
    max_backlog: int = 20000

    def __post_init__(self) -> None:
        _check_networks("smtp.proxy_protocol_from", self.proxy_protocol_from)
        for key in ("sender_rate", "peer_rate"):
            rate = getattr(self, key)
            if rate:
                try:
                    parse_rate(rate, f"smtp.{key}")
                except RateSyntaxError as exc:
                    raise ConfigError(str(exc)) from None
        if self.max_backlog < 0:
            raise ConfigError(
                f"config key 'smtp.max_backlog': expected 0 (no limit) or more, "
                f"got {self.max_backlog}"
            )


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    smtp: str = "maildir:var/outbox"
    sender: str = "support@example.net"


@dataclass(frozen=True, slots=True)
class StaffSettings:
    mailbox: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""


@dataclass(frozen=True, slots=True)
class PanelSettings:
    api_key: str = ""
    # Where a challenge opened is POSTed (signed like the staff webhook with webhook_secret), so
    # the panel can notify the client's device; empty: the panel polls.
    webhook_url: str = ""
    webhook_secret: str = ""
    demo: bool = False  # the demo Client Panel page (gateway demo turns it on); never in production


@dataclass(frozen=True, slots=True)
class ApprovalsSettings:
    """The client approving a held request in the Client Panel (contract section 11): the
    number shown to the requester has `digits` digits and lives `ttl_seconds`."""

    digits: int = 2
    ttl_seconds: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 6:
            raise ConfigError(f"config key 'approvals.digits': expected 1 to 6, got {self.digits}")
        if not 30 <= self.ttl_seconds <= 3600:
            raise ConfigError(
                "config key 'approvals.ttl_seconds': expected 30 to 3600 seconds, "
                f"got {self.ttl_seconds}"
            )


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    secret_key: str = ""
    previous_keys: list[str] = field(default_factory=list)
    identifier_key: str = ""


@dataclass(frozen=True, slots=True)
class PoliciesSettings:
    path: str = ""


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """How long client content is kept, in days (RODO/GDPR: no longer than it is needed); 0
    keeps it forever. The hash chain holds only digests of content, so it outlives them."""

    transcripts_days: int = 365  # transcripts, request and action texts of finished conversations
    raw_messages_days: int = 90  # original e-mails and delivered outbox items (staff have copies)

    def __post_init__(self) -> None:
        for key in ("transcripts_days", "raw_messages_days"):
            days = getattr(self, key)
            if days < 0:
                raise ConfigError(
                    f"config key 'retention.{key}': expected 0 (keep forever) or a number of "
                    f"days, got {days}"
                )


@dataclass(frozen=True, slots=True)
class RequestsSettings:
    """A request held for the client's code does not wait forever: after `hold_hours` it is
    withdrawn, the client told, the chain told (like GNU Mailman's pending tokens)."""

    hold_hours: int = 72

    def __post_init__(self) -> None:
        if self.hold_hours < 1:
            raise ConfigError(
                f"config key 'requests.hold_hours': expected a number of hours (1 or more), "
                f"got {self.hold_hours}"
            )


WITNESS_KINDS = ("mailbox", "webhook")


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Where the chain's head is witnessed outside the database (gateway.audit.witness): ""
    (nowhere but the staff deliveries), "file:/path" (an append-only file), "mailbox"
    (staff.mailbox) or "webhook" (staff.webhook_url), every `witness_seconds`."""

    witness: str = ""
    witness_seconds: int = 300

    def __post_init__(self) -> None:
        kind, _, path = self.witness.partition(":")
        if (
            self.witness
            and not (kind in WITNESS_KINDS and not path)
            and not (kind == "file" and path)
        ):
            raise ConfigError(
                'config key \'audit.witness\': expected "" (none), "file:/path", '
                f'"mailbox" or "webhook", got {self.witness!r}'
            )
        if self.witness_seconds < 10:
            raise ConfigError(
                f"config key 'audit.witness_seconds': expected 10 or more, "
                f"got {self.witness_seconds}"
            )


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The gateway's own log (gateway/logs.py): JSON lines for a log store, or text for a human
    at a terminal. Other libraries stay at WARNING whatever the level."""

    level: str = "info"
    format: str = "json"

    def __post_init__(self) -> None:
        if self.level.lower() not in LOG_LEVELS:
            raise ConfigError(
                f"config key 'log.level': expected one of {', '.join(LOG_LEVELS)}, "
                f"got {self.level!r}"
            )
        if self.format not in LOG_FORMATS:
            raise ConfigError(
                f"config key 'log.format': expected json or text, got {self.format!r}"
            )


@dataclass(frozen=True, slots=True)
class Settings:
    data: DataSettings = field(default_factory=DataSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    staff: StaffSettings = field(default_factory=StaffSettings)
    panel: PanelSettings = field(default_factory=PanelSettings)
    approvals: ApprovalsSettings = field(default_factory=ApprovalsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    policies: PoliciesSettings = field(default_factory=PoliciesSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    requests: RequestsSettings = field(default_factory=RequestsSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    log: LogSettings = field(default_factory=LogSettings)

    @property
    def data_dir(self) -> Path:
        return Path(self.data.dir)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the file (explicit, else ./gateway.toml if present), then apply the environment."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source = path if path is not None else DEFAULT_CONFIG_FILE
    if path is not None or DEFAULT_CONFIG_FILE.is_file():
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {source} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {source} cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source} is not valid TOML: {exc}") from None
    return _build(raw, environ)


def _build(raw: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    sections: dict[str, Any] = {}
    section_types = get_type_hints(Settings)
    for name, value in raw.items():
        if name not in section_types:
            raise ConfigError(f"unknown config section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{name}' must be a table")
    for section_name, section_type in section_types.items():
        values = dict(raw.get(section_name, {}))
        fields = get_type_hints(section_type)
        for key in values:
            if key not in fields:
                raise ConfigError(f"unknown config key '{section_name}.{key}'")
        values.update(_environment_values(section_name, fields, environ))
        checked = {
            key: _coerce(f"{section_name}.{key}", fields[key], value)
            for key, value in values.items()
        }
        sections[section_name] = section_type(**checked)
    return Settings(**sections)


def _environment_values(
    section: str, fields: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    prefix = f"{ENV_PREFIX}{section.upper()}_"
    found: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix) :].lower()
        if key not in fields:
            raise ConfigError(f"unknown config key '{section}.{key}' (from {name})")
        found[key] = _parse_environment(f"{section}.{key}", fields[key], text)
    return found


def _parse_environment(key: str, kind: Any, text: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"config key '{key}': expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(f"config key '{key}': expected an integer, got {text!r}") from None
    if kind == list[str]:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                return tomllib.loads(f"v = {stripped}")["v"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f"config key '{key}': not a TOML array: {text!r}") from None
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return text


def _check_networks(key: str, networks: list[str]) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"config key '{key}': {network!r} is not an IP address or network"
            ) from None


def _coerce(key: str, kind: Any, value: Any) -> Any:
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind == list[str] and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    expected = {int: "an integer", str: "a string", bool: "true or false"}.get(
        kind, "a list of strings"
    )
    raise ConfigError(f"config key '{key}': expected {expected}, got {value!r}")


def replace(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """Copy with some keys changed; how tests and `demo` derive settings without a file."""
    changed = {
        name: dataclasses.replace(getattr(settings, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(settings, **changed)
