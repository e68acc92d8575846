from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_contract() -> None:
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite+aiosqlite:///var/gateway.db"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 8025)
    assert settings.smtp.addresses == ["support@example.net"]
    assert settings.smtp.max_message_size == 26214400
    assert settings.chat.max_message_length == 4000
    assert settings.chat.rate_limit == "20/10s"
    assert settings.outbound.smtp == "maildir:var/outbox"
    assert settings.panel.api_key == ""


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nport = 9000\n[smtp]\naddresses = ["a@example.net"]\n')
    env = {
        "GATEWAY_DATABASE_URL": "postgresql+asyncpg://db/gw",
        "GATEWAY_SMTP_PORT": "2525",
        "GATEWAY_CHAT_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "GATEWAY_SMTP_ADDRESSES": '["support@example.net", "pomoc@example.net"]',
        "GATEWAY_TEST_POSTGRES_URL": "ignored: not a config section",
    }
    settings = load_settings(path, env)
    assert settings.http.port == 9000
    assert settings.smtp.port == 2525
    assert settings.database.url == "postgresql+asyncpg://db/gw"
    assert settings.chat.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.smtp.addresses == ["support@example.net", "pomoc@example.net"]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[http]\nprot = 1\n", {}, "unknown config key 'http.prot'"),
        ("[htp]\nport = 1\n", {}, "unknown config section [htp]"),
        ('[http]\nport = "80"\n', {}, "config key 'http.port': expected an integer"),
        ("[smtp]\naddresses = 5\n", {}, "config key 'smtp.addresses': expected a list"),
        ("", {"GATEWAY_SMTP_PORT": "twenty"}, "config key 'smtp.port': expected an integer"),
        ("", {"GATEWAY_SMTP_PROT": "1"}, "unknown config key 'smtp.prot'"),
        ("[http\n", {}, "is not valid TOML"),
        ("[requests]\nhold_hours = 0\n", {}, "config key 'requests.hold_hours'"),
        ('[audit]\nwitness = "ftp:x"\n', {}, "config key 'audit.witness'"),
        ('[audit]\nwitness = "file:"\n', {}, "config key 'audit.witness'"),
        ("[audit]\nwitness_seconds = 1\n", {}, "config key 'audit.witness_seconds'"),
    ],
)
def test_mistakes_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {})


def test_booleans_from_file_and_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nverify_dkim = true\n")
    assert load_settings(path, {}).smtp.verify_dkim is True
    assert load_settings(path, {"GATEWAY_SMTP_VERIFY_DKIM": "no"}).smtp.verify_dkim is False
    with pytest.raises(ConfigError, match="smtp.process_mail': expected true or false"):
        load_settings(path, {"GATEWAY_SMTP_PROCESS_MAIL": "maybe"})
    with pytest.raises(ConfigError, match="expected true or false"):
        load_settings(write(tmp_path, '[smtp]\nverify_dkim = "yes"\n'), {})
