"""`trustbot orgs apply|list` and `trustbot db upgrade` as an operator runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from trustbot.cli.main import main
from trustbot.standin.sample import DIRECTORY_YAML
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditEvent

LISTING = (
    "SLUG    NAME           REP     ADMINS  SECURITY_CHANNEL  MAX_TIER  VERIFIED_UNTIL  SLACK_TEAM  CONNECT_CHANNEL\n"
    "acme    Acme Security  U0REP1  2       C0ACMESEC         frontier  2027-06-30\n"
    "globex  Globex         U0REP2  1                         standard  2027-03-31\n"
)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    return tmp_path


def audit_trail(cli_env: Path) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        db = Database(f"sqlite+aiosqlite:///{cli_env}/cli.db")
        try:
            async with db.sessions() as session:
                events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
                return [(e.actor, e.action, e.subject) for e in events]
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_apply_then_list_then_reapply_is_idempotent(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cli_env / "directory.yml"
    path.write_text(DIRECTORY_YAML)
    assert main(["orgs", "apply", str(path)]) == 0
    assert capsys.readouterr().out == (
        "directory applied: 2 created, 0 updated, 0 unchanged\n"
        "created: acme, globex\n"
        "tiers: default tiers created\n"
        "program settings changed: operators, reps_channel, security_channel\n"
    )
    assert main(["orgs", "list"]) == 0
    assert capsys.readouterr().out == LISTING
    assert main(["orgs", "apply", str(path)]) == 0
    assert capsys.readouterr().out == "directory applied: 0 created, 0 updated, 2 unchanged\nnothing changed\n"
    # The CLI applies as `cli`; the unchanged re-apply is not audited.
    assert audit_trail(cli_env) == [
        ("cli", "org.created", "org:acme"),
        ("cli", "org.created", "org:globex"),
        ("cli", "directory.applied", "directory"),
    ]


def test_one_bad_org_changes_nothing_and_names_org_and_field(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cli_env / "directory.yml"
    path.write_text(DIRECTORY_YAML)
    assert main(["orgs", "apply", str(path)]) == 0
    capsys.readouterr()
    bad = DIRECTORY_YAML.replace("name: Globex", "name: Globex Renamed").replace(
        "rep: U0REP2\n    admins: [U0GLX1]", "rep: bob\n    admins: [U0GLX1]"
    )
    path.write_text(bad)
    assert main(["orgs", "apply", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"trustbot: {path}: invalid directory file (1 problem):\n"
        "  org 'globex': field 'rep': not a Slack user id ('bob')\n"
    )
    assert main(["orgs", "list"]) == 0
    assert capsys.readouterr().out == LISTING


def test_missing_file_is_a_one_line_error(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = cli_env / "nope.yml"
    assert main(["orgs", "apply", str(missing)]) == 2
    assert capsys.readouterr().err == f"trustbot: cannot read {missing}: No such file or directory\n"


def test_a_connect_channel_is_listed_and_posted_once_and_needs_the_orgs_slack_team(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cli_env / "directory.yml"
    connect = DIRECTORY_YAML.replace(
        "    verified_until: 2027-06-30\n", "    verified_until: 2027-06-30\n    connect_channel: C0ACMECONNECT\n", 1
    )
    path.write_text(connect)
    assert main(["orgs", "apply", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"trustbot: {path}: invalid directory file (1 problem):\n"
        "  org 'acme': connect_channel needs slack_team: the org's people in a Slack Connect channel are known by "
        "their own workspace\n"
    )
    path.write_text(connect.replace("C0ACMECONNECT", "general"))
    assert main(["orgs", "apply", str(path)]) == 2
    assert "org 'acme': field 'connect_channel': not a Slack channel id ('general')" in capsys.readouterr().err
    path.write_text(connect.replace("    connect_channel:", "    slack_team: T0ACME\n    connect_channel:"))
    assert main(["orgs", "apply", str(path)]) == 0
    assert "Request access message queued (delivery posts and pins it): acme\n" in capsys.readouterr().out
    assert main(["orgs", "apply", str(path)]) == 0
    assert capsys.readouterr().out == "directory applied: 0 created, 0 updated, 2 unchanged\nnothing changed\n"
    assert main(["orgs", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-2:] == ["T0ACME", "C0ACMECONNECT"]
