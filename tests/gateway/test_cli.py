"""The operator's commands, run as an operator runs them: through `main` and the console script."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.codes.totp import totp_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[data]\ndir = "{tmp_path / "var"}"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[outbound]\nsmtp = "maildir:{tmp_path / "outbox"}"\n'
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def upgrade(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "db", "upgrade") == 0
    assert capsys.readouterr().out.strip() == "database schema is up to date"


ACCOUNTS = [
    {
        "login": "jan.kowalski",
        "name": "Jan Kowalski",
        "email": "jan@example.com",
        "services": ["example.pl", "vps-1234"],
        "pesel": "44051401359",
        "nip": None,
        "regon": None,
        "totp_secret": "JBSWY3DPEHPK3PXP",
        "language": "pl",
    },
    {
        "login": "firma",
        "email": "biuro@firma.example",
        "nip": "123-456-32-18",
        "regon": "123456785",
        "services": ["firma.pl"],
    },
]


def test_usage_errors_are_one_line_and_exit_2(config: Path, capsys) -> None:
    assert main(["frobnicate"]) == 2
    assert main(["--config", str(config.parent / "missing.toml"), "audit", "verify"]) == 2
    assert main(["accounts", "add", "--login", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("gateway") for line in err)


def test_a_bad_config_value_names_the_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nport = "25"\n')
    assert main(["--config", str(bad), "audit", "verify"]) == 2
    assert "smtp.port" in capsys.readouterr().err


def test_commands_refuse_an_out_of_date_schema(config: Path, capsys) -> None:
    assert run(config, "code", "jan.kowalski") == 1
    assert "gateway db upgrade" in capsys.readouterr().err


def test_import_code_and_audit(config: Path, tmp_path: Path, capsys, database_url: str) -> None:
    upgrade(config, capsys)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS, indent=2))
    assert run(config, "accounts", "import", str(accounts)) == 0
    assert capsys.readouterr().out.strip() == "imported 2"
    # upsert: importing again updates rather than duplicates
    assert run(config, "accounts", "import", str(accounts)) == 0
    assert capsys.readouterr().out.strip() == "imported 2"

    assert run(config, "code", "jan.kowalski") == 0
    code = capsys.readouterr().out.strip()
    assert len(code) == 8 and code.isdigit()
    assert run(config, "code", "nobody") == 1
    assert "nobody" in capsys.readouterr().err
    assert run(config, "code", "jan.kowalski", "--ticket", "T-ZZZZZZ") == 1
    assert "T-ZZZZZZ" in capsys.readouterr().err

    assert run(config, "audit", "verify") == 0
    assert capsys.readouterr().out.strip() == "ok 0 records"
    assert run(config, "audit", "export", "T-ZZZZZZ") == 1
    assert "T-ZZZZZZ" in capsys.readouterr().err

    if database_url.startswith("sqlite"):
        raw = Path(database_url.split("///", 1)[1]).read_bytes()
        for secret in (b"44051401359", b"1234563218", b"123456785", code.encode()):
            assert secret not in raw


def test_import_is_all_or_nothing_and_lists_every_bad_line(
    config: Path, tmp_path: Path, capsys
) -> None:
    upgrade(config, capsys)
    lines = [
        {"login": "ok.one", "email": "one@example.com"},
        {"login": "bad pesel", "email": "x@example.com"},
        {"login": "ok.two", "email": "two@example.com", "pesel": "44051401358"},
        {"login": "ok.three", "email": "three@example.com", "colour": "red"},
        {"login": "ok.one", "email": "dup@example.com"},
    ]
    jsonl = tmp_path / "accounts.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert run(config, "accounts", "import", str(jsonl)) == 1
    err = capsys.readouterr().err
    for number in (2, 3, 4, 5):
        assert f"{jsonl}:{number}:" in err
    assert f"{jsonl}:1:" not in err
    assert "44051401358" not in err
    assert run(config, "code", "ok.one") == 1  # nothing was imported


def test_accounts_add_prints_an_otpauth_uri(config: Path, capsys) -> None:
    upgrade(config, capsys)
    args = [
        "accounts",
        "add",
        "--login",
        "ewa",
        "--email",
        "ewa@example.com",
        "--service",
        "ewa.pl",
        "--nip",
        "1234563218",
    ]
    assert run(config, *args) == 0
    uri = capsys.readouterr().out.strip()
    assert uri.startswith("otpauth://totp/") and "secret=" in uri
    assert (
        run(
            config,
            "accounts",
            "add",
            "--login",
            "x",
            "--email",
            "x@example.com",
            "--pesel",
            "12345678901",
        )
        == 1
    )
    assert "pesel" in capsys.readouterr().err


def test_staff_add(config: Path, tmp_path: Path, capsys) -> None:
    upgrade(config, capsys)
    password = tmp_path / "password"
    password.write_text("correct horse battery staple\n")
    assert run(config, "staff", "add", "agnieszka", "--password-file", str(password)) == 0
    assert capsys.readouterr().out.startswith("otpauth://totp/")
    assert run(config, "staff", "add", "agnieszka", "--password-file", str(password)) == 1


def test_policies_check(tmp_path: Path, capsys) -> None:
    assert main(["policies", "check"]) == 0
    broken = tmp_path / "policies"
    broken.mkdir()
    (broken / "bad.toml").write_text("[[intent]]\nname = \n")
    assert main(["policies", "check", str(broken)]) == 1
    assert f"{broken / 'bad.toml'}:2:" in capsys.readouterr().err


def test_audit_verify_finds_a_tampered_record(config: Path, capsys, database_url: str) -> None:
    """A verification through the pipeline, then an edit made behind the gateway's back."""
    from gateway.config import load_settings
    from gateway.core import open_core
    from tests.gateway.memory_channel import MemoryChat

    upgrade(config, capsys)
    accounts = config.parent / "a.json"
    accounts.write_text(json.dumps(ACCOUNTS[:1]))
    assert run(config, "accounts", "import", str(accounts)) == 0

    async def verify_one() -> str:
        async with open_core(load_settings(config, {})) as core:
            client = await MemoryChat(core.pipeline).open()
            await client.say("please transfer example.pl")
            code = totp_for("JBSWY3DPEHPK3PXP").now()
            assert (await client.form("jan.kowalski", code)).verified
            assert client.status is not None and client.status.ticket
            return client.status.ticket

    ticket = asyncio.run(verify_one())
    capsys.readouterr()
    assert run(config, "audit", "verify") == 0
    assert capsys.readouterr().out.strip() == "ok 1 records"
    assert run(config, "audit", "export", ticket) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["verification_record"]["chained_body"]["login"] == "jan.kowalski"
    assert bundle["transcript"][0]["author"] == "bot"

    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split("///", 1)[1]) as db:
            db.execute("UPDATE audit_records SET body = replace(body, 'jan.kowalski', 'mallory')")
        assert run(config, "audit", "verify") == 1
        assert "record 1" in capsys.readouterr().err


def test_audit_verify_reads_a_witness_and_catches_a_rollback(
    config: Path, capsys, database_url: str
) -> None:
    """The operator's view of issue 13's witness: heads saved outside the database, then the
    newest record deleted and an old checkpoint put back, which the chain alone accepts."""
    from sqlalchemy import delete

    from gateway.config import load_settings, replace
    from gateway.core import open_core
    from gateway.housekeeping import publish_head
    from gateway.storage.models import AuditRecord, ChainCheckpoint

    upgrade(config, capsys)
    witness = config.parent / "witness.log"
    settings = load_settings(config, {})
    audit = replace(settings, audit={"witness": f"file:{witness}"}).audit

    async def grow_and_roll_back() -> None:
        async with open_core(settings) as core:
            for number in range(3):
                async with core.sessions.begin() as session:
                    fields = {"request_text": f"change {number}"}
                    await core.chain.append(session, "verification", "T-WITNES", fields)
                if number == 1:
                    async with core.sessions() as session:
                        old = await session.get(ChainCheckpoint, 1)
                        assert old is not None
                        saved = (old.seq, old.hash, old.key_id, old.mac)
            assert await publish_head(core, audit)
            async with core.sessions.begin() as session:
                await session.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
                row = await session.get(ChainCheckpoint, 1)
                assert row is not None
                row.seq, row.hash, row.key_id, row.mac = saved

    asyncio.run(grow_and_roll_back())
    capsys.readouterr()
    # Even alone, the signed marker of the last head sent names the record that went.
    assert run(config, "audit", "verify") == 1
    assert "chain_checkpoint 2 (the last head sent): witness: record 3" in capsys.readouterr().err
    assert run(config, "audit", "verify", "--witness", str(witness)) == 1
    assert "record 3 was witnessed but is missing" in capsys.readouterr().err
    assert run(config, "audit", "verify", "--witness", str(config.parent / "nope")) == 1
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda line: "", "no chain-head token"),
        (lambda line: "nothing to see here\n", "no chain-head token"),
        (lambda line: line.replace(" key=", "A key="), "1 damaged chain-head lines"),
        (lambda line: line.upper().replace("CHAIN-HEAD SEQ", "chain-head seq"), "1 damaged"),
        (lambda line: line.replace("mac=", "mac=zz"), "1 damaged chain-head lines"),
        (lambda line: line + line.split(" mac=")[0] + "\n", "1 damaged chain-head lines"),
    ],
)
def test_a_witness_file_that_proves_nothing_fails(
    config: Path, capsys, damage: Any, said: str
) -> None:
    """A witness damaged in the copy (or on purpose) must fail the check, never drop out of it:
    an empty file, one with no token, a token with upper-case hex, a bad MAC, a cut line."""
    from gateway.config import load_settings, replace
    from gateway.core import open_core
    from gateway.housekeeping import publish_head

    upgrade(config, capsys)
    witness = config.parent / "witness.log"
    settings = load_settings(config, {})

    async def one_head() -> None:
        async with open_core(settings) as core:
            async with core.sessions.begin() as session:
                await core.chain.append(session, "verification", "T-WITNES", {"n": 1})
            audit = replace(settings, audit={"witness": f"file:{witness}"}).audit
            assert await publish_head(core, audit)

    asyncio.run(one_head())
    damaged = config.parent / "damaged.log"
    damaged.write_text(damage(witness.read_text()))
    capsys.readouterr()
    assert run(config, "audit", "verify", "--witness", str(damaged)) == 1
    assert said in capsys.readouterr().err


def test_the_console_script_and_module_entry_points(config: Path) -> None:
    gateway = Path(sys.executable).with_name("gateway")
    for command in ([str(gateway)], [sys.executable, "-m", "gateway"]):
        done = subprocess.run(
            [*command, "--config", str(config), "db", "upgrade"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def test_a_code_from_the_cli_verifies_once(config: Path, capsys) -> None:
    from gateway.config import load_settings
    from gateway.core import open_core
    from tests.gateway.memory_channel import MemoryChat

    upgrade(config, capsys)
    accounts = config.parent / "a.json"
    accounts.write_text(json.dumps(ACCOUNTS[:1]))
    assert run(config, "accounts", "import", str(accounts)) == 0
    assert run(config, "code", "jan.kowalski") == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]

    async def use_twice() -> list[bool | None]:
        async with open_core(load_settings(config, {})) as core:
            results = []
            for _ in range(2):
                client = await MemoryChat(core.pipeline).open()
                await client.say("please change the DNS of example.pl")
                results.append((await client.form("jan.kowalski", code)).verified)
            return results

    assert asyncio.run(use_twice()) == [True, False]
