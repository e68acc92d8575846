"""Seed data for `gateway demo`: a few client accounts and one staff user, so the whole flow can
be tried on a laptop in a minute. Never for production: it prints a staff password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.accounts.records import account_record
from gateway.accounts.store import upsert_accounts
from gateway.codes.totp import provisioning_uri
from gateway.config import Settings
from gateway.core import Core
from gateway.staff.passwords import hash_password
from gateway.staff.users import ISSUER, add_staff_user
from gateway.storage.models import StaffUser

DEMO_ACCOUNTS = [
    {
        "login": "demo-login",
        "name": "Demo Client",
        "email": "demo-client@example.com",
        "services": ["demo.example", "vps-1001"],
        "language": "en",
    },
    {
        "login": "jan.kowalski",
        "name": "Jan Kowalski",
        "email": "jan@example.com",
        "services": ["example.pl", "vps-1234"],
        "pesel": "44051401359",
        "totp_secret": "JBSWY3DPEHPK3PXP",
        "language": "pl",
    },
    {
        "login": "firma.abc",
        "name": "ABC sp. z o.o.",
        "email": "biuro@abc-firma.example",
        "services": ["abc-firma.pl"],
        "nip": "1234563218",
        "regon": "123456785",
        "language": "pl",
    },
]
DEMO_STAFF = "staff"
DEMO_STAFF_MAILBOX = "staff@example.net"


@dataclass(frozen=True, slots=True)
class DemoLogins:
    staff_password: str
    staff_totp_uri: str
    client_totp_uri: str
    panel_api_key: str

    def banner(self, settings: Settings) -> str:
        base = f"http://{settings.http.host}:{settings.http.port}"
        maildir = settings.outbound.smtp.removeprefix("maildir:")
        return "\n".join(
            [
                "Support gateway demo",
                f"  chat (a provider's page with the widget): {base}/   (English: {base}/?lang=en)",
                f"  staff console: {base}/staff/",
                f"    log in as {DEMO_STAFF} / {self.staff_password} and the code of this TOTP",
                f"    (add it to an authenticator app): {self.staff_totp_uri}",
                "  demo clients: demo-login (demo.example, vps-1001), "
                "jan.kowalski (example.pl), firma.abc (abc-firma.pl)",
                "  a panel code, as the Client Panel shows it:",
                "    .venv/bin/gateway code demo-login",
                f"    or: curl -X POST -H 'Authorization: Bearer {self.panel_api_key}' "
                f'-d \'{{"login": "demo-login"}}\' {base}/api/panel/codes',
                f"  demo-login's TOTP: {self.client_totp_uri}",
                "  demo Client Panel (approve a request by the number the chat shows): "
                f"{base}/demo/panel",
                f"  support mailbox (SMTP): {settings.smtp.host}:{settings.smtp.port}, "
                f"for {', '.join(settings.smtp.addresses)}",
                f"    send a mail: curl smtp://{settings.smtp.host}:{settings.smtp.port} "
                f"--mail-from demo-client@example.com --mail-rcpt {settings.smtp.addresses[0]} "
                "-T message.txt",
                f"  outbound mail (auto-replies, and staff copies to {settings.staff.mailbox}) "
                f"lands in {maildir}/new/",
                f"  health {base}/healthz; metrics (a listener of its own): "
                f"http://{settings.metrics.host}:{settings.metrics.port}/metrics",
                "Ctrl-C stops.",
            ]
        )


async def seed_demo(session: AsyncSession, core: Core) -> DemoLogins:
    records = [account_record(fields) for fields in DEMO_ACCOUNTS]
    accounts = await upsert_accounts(session, core.keys.identifier, records, core.clock)
    password = secrets.token_urlsafe(12)
    staff = await session.scalar(select(StaffUser).where(StaffUser.username == DEMO_STAFF))
    if staff is None:
        staff_uri = await add_staff_user(session, core.clock, DEMO_STAFF, password)
    else:
        # A fresh password each run: the demo prints it, so it must not outlive the demo.
        staff.password_hash = hash_password(password)
        staff.failed_attempts, staff.locked_until = 0, None
        staff_uri = provisioning_uri(staff.totp_secret, DEMO_STAFF, ISSUER)
    return DemoLogins(
        staff_password=password,
        staff_totp_uri=staff_uri,
        client_totp_uri=provisioning_uri(accounts[0].totp_secret, "demo-login", "Client Panel"),
        panel_api_key=core.settings.panel.api_key or secrets.token_urlsafe(24),
    )
