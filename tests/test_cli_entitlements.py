"""`trustbot entitlements check EMAIL`: the API's answer on the command line, with exit codes 0/1/2."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.factories import make_grant
from trustbot.cli.main import main
from trustbot.clock import FixedClock
from trustbot.standin.sample import DIRECTORY_YAML
from trustbot.storage.database import Database


def test_check_answers_like_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    (tmp_path / "dir.yml").write_text(DIRECTORY_YAML)
    assert main(["orgs", "apply", str(tmp_path / "dir.yml")]) == 0

    async def grant() -> None:
        db = Database(url)
        try:
            await make_grant(db, FixedClock(datetime.now(UTC)), blanket=True, members=(), tier="enhanced")
        finally:
            await db.dispose()

    asyncio.run(grant())
    capsys.readouterr()
    assert main(["entitlements", "check", "Someone@acme.com"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["email"], answer["org"], answer["entitled"], answer["tier"]) == (
        "someone@acme.com",
        "acme",
        True,
        "enhanced",
    )
    assert main(["entitlements", "check", "someone@globex.example"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["reason"] == "no grant" and "not entitled: no grant" in captured.err
    assert main(["entitlements", "check", "not-an-address"]) == 2
    assert "not an address" in capsys.readouterr().err
