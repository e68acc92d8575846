"""Rotating `security.secret_key` as the README's deployment guide tells operators to: the
chain's checkpoint, signed by the old key, still verifies while that key is listed in
`security.previous_keys`, and the first append re-signs it with the new key (through the real
command line, with records written by the real pipeline); the tokens a browser holds (console
forms, chat resume tokens) stay good through the rollout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gateway.audit.chain import CHECKPOINT_ID, ChainError
from gateway.cli import main
from gateway.codes.totp import totp_for
from gateway.config import load_settings
from gateway.core import open_core
from gateway.keys import Keys, key_id
from gateway.pipeline.resume import ResumeTokens, token_hash
from gateway.staff.console import csrf
from gateway.storage.models import ChainCheckpoint, Conversation
from tests.gateway.memory_channel import MemoryChat

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

KEY_A = "old-secret-key-" + "a" * 48
KEY_B = "new-secret-key-" + "b" * 48
IDENTIFIER_KEY = "identifier-key-" + "c" * 48  # never rotated here: it only keys PESEL/NIP/REGON
JAN_TOTP = "JBSWY3DPEHPK3PXP"
JAN = {
    "login": "jan.kowalski",
    "email": "jan@example.com",
    "services": ["example.pl"],
    "totp_secret": JAN_TOTP,
}

Node = Callable[..., Path]


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Node:
    """A config file as one node would have it: same database, its own set of keys."""

    def configure(secret: str, previous: Sequence[str] = ()) -> Path:
        path = tmp_path / f"gateway-{key_id(secret.encode())}-{len(previous)}.toml"
        path.write_text(
            f'[data]\ndir = "{tmp_path / "var"}"\n'
            f'[database]\nurl = "{database_url}"\n'
            f'[outbound]\nsmtp = "maildir:{tmp_path / "outbox"}"\n'
            "[security]\n"
            f'secret_key = "{secret}"\n'
            f"previous_keys = {json.dumps(list(previous))}\n"
            f'identifier_key = "{IDENTIFIER_KEY}"\n'
        )
        return path

    return configure


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def verify(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = run(config, "audit", "verify")
    captured = capsys.readouterr()
    return status, (captured.out + captured.err).strip()


def start(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A chain begun under this node's key, with the one client account the tests use."""
    assert run(config, "db", "upgrade") == 0
    accounts = config.parent / "accounts.json"
    accounts.write_text(json.dumps([JAN]))
    assert run(config, "accounts", "import", str(accounts)) == 0
    capsys.readouterr()


def verified_request(config: Path, code: str) -> None:
    """One change request verified in the chat: its record joins the chain."""

    async def chat() -> None:
        async with open_core(load_settings(config, {})) as core:
            client = await MemoryChat(core.pipeline).open()
            await client.say("please change the DNS of example.pl")
            assert (await client.form("jan.kowalski", code)).verified

    asyncio.run(chat())


def panel_code(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Issued by this node, hashed under its current key."""
    capsys.readouterr()
    assert run(config, "code", "jan.kowalski") == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def checkpoint_key_id(config: Path) -> str:
    async def read() -> str:
        async with open_core(load_settings(config, {})) as core, core.sessions() as session:
            checkpoint = await session.get(ChainCheckpoint, CHECKPOINT_ID)
            assert checkpoint is not None
            return checkpoint.key_id

    return asyncio.run(read())


def test_rotation_with_the_old_key_retired_keeps_the_chain_verifiable(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    only_a = node(KEY_A)
    start(only_a, capsys)
    verified_request(only_a, totp_for(JAN_TOTP).now())
    assert verify(only_a, capsys) == (0, "ok 1 records")

    # Step 1 of the procedure, on every node: B is known but A still signs.
    a_knows_b = node(KEY_A, [KEY_B])
    assert verify(a_knows_b, capsys) == (0, "ok 1 records")

    # Step 2, node by node: B signs, A retired. A's checkpoint still verifies...
    b_retires_a = node(KEY_B, [KEY_A])
    assert verify(b_retires_a, capsys) == (0, "ok 1 records")
    assert checkpoint_key_id(b_retires_a) == key_id(KEY_A.encode())
    # ...and the next append, here with a panel code issued after the swap, re-signs it with B.
    verified_request(b_retires_a, panel_code(b_retires_a, capsys))
    assert verify(b_retires_a, capsys) == (0, "ok 2 records")
    assert checkpoint_key_id(b_retires_a) == key_id(KEY_B.encode())

    # A node not yet swapped accepts B's checkpoint and appends under A; the swapped node
    # accepts that in turn: mid-rollout, neither kind of node locks the other out.
    assert verify(a_knows_b, capsys) == (0, "ok 2 records")
    verified_request(a_knows_b, panel_code(a_knows_b, capsys))
    assert checkpoint_key_id(b_retires_a) == key_id(KEY_A.encode())
    assert verify(b_retires_a, capsys) == (0, "ok 3 records")

    # Step 3: once B has signed the checkpoint, A can be dropped.
    verified_request(b_retires_a, panel_code(b_retires_a, capsys))
    only_b = node(KEY_B)
    assert verify(only_b, capsys) == (0, "ok 4 records")


def test_dropping_the_old_key_too_early_is_reported_and_blocks_appends(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    only_a = node(KEY_A)
    start(only_a, capsys)
    verified_request(only_a, totp_for(JAN_TOTP).now())

    only_b = node(KEY_B)
    status, said = verify(only_b, capsys)
    assert status == 1
    assert "checkpoint" in said and "not signed by a known key" in said
    # A node missing the signing key refuses to extend the chain rather than re-sign it:
    # that is why every node must know the new key before any node signs with it.
    with pytest.raises(ChainError, match="not signed by a known key"):
        asyncio.run(_append(only_b))
    # Nothing was lost: with the old key back among the retired ones, all is intact.
    assert verify(node(KEY_B, [KEY_A]), capsys) == (0, "ok 1 records")


async def _append(config: Path) -> None:
    async with open_core(load_settings(config, {})) as core, core.sessions.begin() as session:
        await core.chain.append(session, "staff_action", "T-AAAAAA", {"action_text": "x"})


def test_console_forms_rendered_before_a_rotation_still_post() -> None:
    """CSRF tokens are checked against every key, so a form opened under A posts under B."""
    before = Keys(KEY_A.encode(), (), IDENTIFIER_KEY.encode())
    after = Keys(KEY_B.encode(), (KEY_A.encode(),), IDENTIFIER_KEY.encode())
    token = csrf.session_token(before, "session-hash")
    assert csrf.session_token_valid(after, "session-hash", token)
    assert not csrf.session_token_valid(Keys(KEY_B.encode(), (), b""), "session-hash", token)


def test_resume_tokens_survive_the_rollout_and_the_retirement() -> None:
    """A browser may reconnect to any node mid-rollout, holding a token stated under either key."""
    only_a = Keys(KEY_A.encode(), (), IDENTIFIER_KEY.encode())
    a_knows_b = Keys(KEY_A.encode(), (KEY_B.encode(),), IDENTIFIER_KEY.encode())
    b_retires_a = Keys(KEY_B.encode(), (KEY_A.encode(),), IDENTIFIER_KEY.encode())
    only_b = Keys(KEY_B.encode(), (), IDENTIFIER_KEY.encode())
    opening = ResumeTokens(only_a).issue("conversation-1")
    conversation = Conversation(id="conversation-1", resume_token_hash=token_hash(opening))
    restated = ResumeTokens(b_retires_a).issue("conversation-1")  # a status sent by a B node

    assert ResumeTokens(a_knows_b).matches(conversation, restated)
    assert not ResumeTokens(only_a).matches(conversation, restated)  # why step 1 comes first
    assert ResumeTokens(b_retires_a).matches(conversation, opening)
    assert ResumeTokens(only_b).matches(conversation, opening)  # the hash stored at opening


def test_a_panel_code_issued_before_the_swap_still_verifies_after_it(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client reading a code out of the panel while nodes swap keys is not refused (nor
    counted as a failure towards a lockout)."""
    a_knows_b = node(KEY_A, [KEY_B])
    start(a_knows_b, capsys)
    issued_under_a = panel_code(a_knows_b, capsys)
    verified_request(node(KEY_B, [KEY_A]), issued_under_a)
    assert verify(node(KEY_B, [KEY_A]), capsys) == (0, "ok 1 records")
