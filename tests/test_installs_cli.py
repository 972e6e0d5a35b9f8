"""`trustbot installs link|list`, `serve` refusing installs without a secrets key, the directory's `slack_team`,
and `TRUSTBOT_SECRETS_KEY` rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.support.installs import BOUND_YAML, INSTALL_SETTINGS, PUBLIC_URL
from trustbot.cli.main import main
from trustbot.handlers.installs import BOT_SCOPES
from trustbot.secrets import SecretBox, SecretUnreadable
from trustbot.standin.sample import DIRECTORY_YAML

ROOT = Path(__file__).parent.parent


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    for name in INSTALL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "directory.yml").write_text(BOUND_YAML)
    assert main(["orgs", "apply", str(tmp_path / "directory.yml")]) == 0
    return tmp_path


@pytest.mark.usefixtures("cli_env")
def test_installs_link_prints_a_single_use_link_naming_the_public_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in INSTALL_SETTINGS.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["installs", "link", "acme"]) == 0
    first = capsys.readouterr().out.strip()
    assert first.startswith(f"{PUBLIC_URL}/slack/install?link=") and len(first) > len(PUBLIC_URL) + 40
    assert main(["installs", "link", "acme"]) == 0
    assert capsys.readouterr().out.strip() != first  # each call a new link
    assert main(["installs", "list"]) == 0
    assert capsys.readouterr().out == "no installations\n"


@pytest.mark.usefixtures("cli_env")
def test_installs_link_errors_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["installs", "link", "acme"]) == 2
    assert capsys.readouterr().err == (
        "trustbot: customer workspace installs are not configured: set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, "
        "TRUSTBOT_SECRETS_KEY, TRUSTBOT_PUBLIC_URL\n"
    )
    for name, value in INSTALL_SETTINGS.items():
        monkeypatch.setenv(name, value)
    assert main(["installs", "link", "initech"]) == 2
    assert capsys.readouterr().err == "trustbot: unknown org 'initech'\n"


@pytest.mark.usefixtures("cli_env")
def test_serve_refuses_client_credentials_without_a_secrets_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "secret")
    monkeypatch.setenv("TRUSTBOT_PUBLIC_URL", PUBLIC_URL)
    capsys.readouterr()
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == "trustbot: missing required setting(s): TRUSTBOT_SECRETS_KEY\n"
    monkeypatch.setenv("TRUSTBOT_SECRETS_KEY", "not-a-fernet-key")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trustbot: invalid setting(s): TRUSTBOT_SECRETS_KEY:") and err.count("\n") == 1
    assert "not-a-fernet-key" not in err


def test_the_directory_binds_slack_teams_and_never_one_to_two_orgs(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["orgs", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].endswith("SLACK_TEAM  CONNECT_CHANNEL") and listing[1].endswith("T0ACME")

    shared = BOUND_YAML.replace(
        "    domains: [globex.example]\n", "    domains: [globex.example]\n    slack_team: T0ACME\n"
    )
    (cli_env / "shared.yml").write_text(shared)
    assert main(["orgs", "apply", str(cli_env / "shared.yml")]) == 2
    assert "slack_team 'T0ACME': bound by more than one org: 'acme' and 'globex'" in capsys.readouterr().err

    # An org the file leaves alone keeps its binding: another org cannot take it.
    raw = yaml.safe_load(DIRECTORY_YAML)
    raw["orgs"] = [o for o in raw["orgs"] if o["slug"] == "globex"]
    raw["orgs"][0]["slack_team"] = "T0ACME"
    (cli_env / "alone.yml").write_text(yaml.safe_dump(raw))
    assert main(["orgs", "apply", str(cli_env / "alone.yml")]) == 2
    assert "'acme' and 'globex'" in capsys.readouterr().err

    bad = BOUND_YAML.replace("slack_team: T0ACME", "slack_team: C0ACME")
    (cli_env / "bad.yml").write_text(bad)
    assert main(["orgs", "apply", str(cli_env / "bad.yml")]) == 2
    assert "org 'acme': field 'slack_team': not a Slack team id (T…) or Enterprise Grid org id (E…)" in (
        capsys.readouterr().err
    )


def test_secrets_key_rotation_new_key_first_then_old_dropped() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox(old).seal("xoxb-secret")
    rotating = SecretBox(f"{new},{old}")
    assert rotating.open(sealed) == "xoxb-secret"  # old values still read while both are listed
    resealed = rotating.reseal(sealed)
    assert SecretBox(new).open(resealed) == "xoxb-secret"
    with pytest.raises(SecretUnreadable):
        SecretBox(new).open(sealed)  # a value never re-encrypted is lost once its key is dropped


def test_the_manifest_asks_for_the_scopes_and_events_installs_use() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert manifest["oauth_config"]["scopes"]["bot"] == BOT_SCOPES
    assert manifest["oauth_config"]["redirect_urls"] == ["https://trustbot.example.com/slack/oauth_redirect"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
