"""Settings: contract names, defaults, and one-line errors with exit code 2."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import Settings, SettingsError, load_settings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_API_URL", "DATABASE_URL", "HOST", "PORT", "TRUSTBOT_TIMEZONE", "TRUSTBOT_OPERATORS"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url == "sqlite+aiosqlite:///./trustbot.db"
    assert (s.host, s.port, s.timezone, s.operators) == ("0.0.0.0", 3000, "UTC", [])
    assert not s.socket_mode


def test_operators_are_comma_separated_and_secrets_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTBOT_OPERATORS", "U0OPS1, U0OPS2,")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    s = load_settings()
    assert s.operators == ["U0OPS1", "U0OPS2"]
    assert "xoxb-very-secret" not in repr(s) and "xoxb-very-secret" not in str(s.model_dump())


def test_malformed_value_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("TRUSTBOT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message and "PORT" in message and "TRUSTBOT_TIMEZONE" in message


def test_serve_without_required_settings_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SLACK_BOT_TOKEN" in err and "SLACK_SIGNING_SECRET" in err


def test_socket_mode_needs_no_signing_secret() -> None:
    s = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")  # type: ignore[call-arg]
    s.require_for_serve()
    assert s.socket_mode


def test_blank_app_token_is_unset_and_wrong_token_kind_refused() -> None:
    assert not Settings(_env_file=None, SLACK_APP_TOKEN="  ").socket_mode  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        load_settings(SLACK_APP_TOKEN="xoxb-not-an-app-token")


def test_serve_with_a_broken_directory_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.yml").write_text("orgs: [{slug: acme}]\n")
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "TRUSTBOT_DIRECTORY": str(tmp_path / "dir.yml"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db",
        "PORT": "0",
        "HOST": "127.0.0.1",
        "TRUSTBOT_SCHEDULER_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[0].startswith("trustbot: TRUSTBOT_DIRECTORY")
