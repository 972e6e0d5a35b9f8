"""`trustbot orgs apply|list` and `trustbot db upgrade` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import DIRECTORY_YAML


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    return tmp_path


def test_apply_then_list_then_reapply_is_idempotent(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cli_env / "directory.yml"
    path.write_text(DIRECTORY_YAML)
    assert main(["orgs", "apply", str(path)]) == 0
    assert "2 created" in capsys.readouterr().out
    assert main(["orgs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "acme" in listing and "Acme Security" in listing and "globex" in listing
    assert main(["orgs", "apply", str(path)]) == 0
    assert "nothing changed" in capsys.readouterr().out


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
    err = capsys.readouterr().err
    assert "globex" in err and "rep" in err
    assert main(["orgs", "list"]) == 0
    assert "Globex Renamed" not in capsys.readouterr().out


def test_missing_file_is_a_one_line_error(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orgs", "apply", str(cli_env / "nope.yml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.yml" in err
