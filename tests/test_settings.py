"""Settings: contract names, defaults, and one-line errors with exit code 2."""

from __future__ import annotations

import pytest

from tests.support.factories import settings
from trustbot.cli.main import main
from trustbot.config import SettingsError, load_settings
from trustbot.standin.sample import OPERATOR


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_API_URL", "DATABASE_URL", "HOST", "PORT", "TRUSTBOT_TIMEZONE", "TRUSTBOT_OPERATORS"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url == "sqlite+aiosqlite:///./trustbot.db"
    assert (s.host, s.port, s.timezone, s.operators) == ("0.0.0.0", 3000, "UTC", [])
    assert s.socket_mode is False


def test_operators_are_comma_separated_and_secrets_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTBOT_OPERATORS", "U0OPS1, U0OPS2,")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    s = load_settings()
    assert s.operators == [OPERATOR, "U0OPS2"]
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    assert "xoxb-very-secret" not in repr(s) and "xoxb-very-secret" not in str(s.model_dump())


def test_malformed_value_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("TRUSTBOT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == (
        "invalid setting(s): PORT: Input should be a valid integer, unable to parse string as an integer; "
        "TRUSTBOT_TIMEZONE: Value error, unknown time zone 'Mars/Olympus'"
    )


def test_serve_without_required_settings_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == "trustbot: missing required setting(s): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET\n"


def test_socket_mode_needs_no_signing_secret() -> None:
    s = settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    s.require_for_serve()  # no SettingsError
    assert s.socket_mode is True


def test_blank_app_token_is_unset_and_wrong_token_kind_refused() -> None:
    blank = settings(SLACK_APP_TOKEN="  ")
    assert (blank.slack_app_token, blank.socket_mode) == (None, False)
    with pytest.raises(SettingsError) as info:
        load_settings(SLACK_APP_TOKEN="xoxb-not-an-app-token")
    assert str(info.value) == (
        "invalid setting(s): SLACK_APP_TOKEN: Value error, must be an app-level token starting with xapp-"
    )


def test_serve_with_a_broken_directory_exits_2_naming_the_file_and_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
) -> None:
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
    # One line naming the setting and the file, then the file's problems (nothing was served).
    assert capsys.readouterr().err.splitlines() == [
        f"trustbot: TRUSTBOT_DIRECTORY {tmp_path / 'dir.yml'}: invalid directory file (5 problems):",
        "  field 'reps_channel': required",
        "  field 'security_channel': required",
        "  org 'acme': field 'name': required",
        "  org 'acme': field 'domains': required",
        "  org 'acme': field 'rep': required",
    ]
