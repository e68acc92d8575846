"""A policy that takes a kind of request by e-mail only from an authenticated sender: the
Client Panel is not a way around it (no number offered, none accepted)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway.config import Settings, replace
from policies.policyset import bundled_path
from tests.approvals.panel import approvals
from tests.chat.conftest import PANEL_KEY
from tests.mail.conftest import (
    MailGateway,
    email,
    mail_gateway,  # noqa: F401 - the live gateway with its SMTP
)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "policies"
    shutil.copytree(bundled_path(), folder)
    domains = folder / "domains.toml"
    text = domains.read_text(encoding="utf-8")
    text = text.replace(
        "duties = { notify_contact = true }",
        "duties = { notify_contact = true, require_sender_authentication = true }",
        1,
    )
    domains.write_text(text, encoding="utf-8")
    return replace(settings, panel={"api_key": PANEL_KEY}, policies={"path": str(folder)})


async def test_no_approval_for_an_unauthenticated_sender(
    mail_gateway: MailGateway,  # noqa: F811
) -> None:
    await mail_gateway.send(email("Transfer", "Please transfer example.pl to another registrar."))
    await mail_gateway.wait_for(lambda _: len(mail_gateway.to("jan@example.com")) == 1)
    (reply,) = mail_gateway.to("jan@example.com")
    assert not re.search(r"\bnumber \d+", reply.get_content())  # type: ignore[attr-defined]
    status, body = await approvals(mail_gateway.live.url, "jan.kowalski")
    assert status == 200 and body == {"approvals": []}
