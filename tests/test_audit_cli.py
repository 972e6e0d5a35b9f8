"""The audit commands as an operator runs them: exit codes and one-line messages of `audit verify` and
`audit export`, and the checkpoint `jobs run audit-checkpoint` posts being taken back by `verify`."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.audit_helpers import (
    AT_5,
    CHANNEL,
    KEY,
    audit_cli_env,
    checkpoint_outcome,
    missing_events,
    rows_of,
    run_sql,
    seed_events,
)
from tests.support.factories import settings
from trustbot.cli import main as cli
from trustbot.clock import FixedClock
from trustbot.services.audit import EDITED, NEEDS_KEY
from trustbot.services.audit_anchor import NO_SIGNED_CHECKPOINT
from trustbot.services.audit_checkpoints import GIVEN
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditCheckpoint, AuditEvent


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(cli.main, ["audit", "verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_cli_verify_exit_codes_and_one_line_messages(
    db: Database,
    database_url: str,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit_cli_env(monkeypatch, tmp_path, database_url)
    await seed_events(db, clock)
    assert await _cli(capsys) == (0, "audit chain intact: 5 events\n", "")
    await checkpoint_outcome(db, clock)
    head = (await rows_of(db, AuditEvent))[-1].hash
    given = f"5:{head}"
    assert await _cli(capsys, "--checkpoint", given) == (
        0,
        f"audit chain intact: 5 events (matches {GIVEN} and the checkpoint of {AT_5})\n",
        "",
    )
    assert await _cli(capsys, "--checkpoint", "5:nothex") == (
        2,
        "",
        "trustbot: --checkpoint '5:nothex' is not COUNT:HASH (a positive count, a colon, a 64-digit hex hash)\n",
    )
    await run_sql(db, "DELETE FROM audit_event WHERE id >= 4")
    missing = missing_events(2, f"the checkpoint of {AT_5}", 3)
    assert await _cli(capsys) == (1, "", f"audit chain broken: {missing}\n")
    await run_sql(db, "DELETE FROM audit_checkpoint")
    assert (await _cli(capsys))[0] == 0
    assert await _cli(capsys, "--checkpoint", given) == (1, "", f"audit chain broken: {missing_events(2, GIVEN, 3)}\n")
    await run_sql(db, "UPDATE audit_event SET actor = 'UEVIL' WHERE id = 2")
    assert await _cli(capsys) == (1, "", f"audit chain broken at event 2: {EDITED}\n")


async def test_cli_keyed_events_need_the_key(
    db: Database,
    database_url: str,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_events(db, clock, 1)
    await seed_events(db, clock, 2, settings(TRUSTBOT_AUDIT_KEY=KEY))
    audit_cli_env(monkeypatch, tmp_path, database_url)
    assert await _cli(capsys) == (1, "", f"audit chain cannot be verified at event 2: {NEEDS_KEY}\n")
    monkeypatch.setenv("TRUSTBOT_AUDIT_KEY", KEY)
    assert await _cli(capsys) == (0, "audit chain intact: 3 events\n", f"warning: {NO_SIGNED_CHECKPOINT}\n")


async def test_jobs_run_posts_the_checkpoint_that_verify_takes_back(
    db: Database,
    database_url: str,
    fake_slack: Any,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_events(db, clock)
    env = {"SLACK_API_URL": fake_slack.api_url, "SLACK_BOT_TOKEN": "xoxb-test", "TRUSTBOT_CHANNEL_PACE_SECONDS": "0"}
    audit_cli_env(monkeypatch, tmp_path, database_url, TRUSTBOT_AUDIT_CHANNEL=CHANNEL, **env)
    argv = ["jobs", "run", "audit-checkpoint", "--now", "2026-11-02T10:55:00Z"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert "(1 Slack messages delivered)" in capsys.readouterr().out
    assert await asyncio.to_thread(cli.main, ["jobs", "list"]) == 0
    assert re.search(r"audit-checkpoint\s+every hour\s+2026-11-02T10:55:00Z\s+finished", capsys.readouterr().out)
    [message] = fake_slack.messages(CHANNEL)
    copied = re.search(r"--checkpoint (\S+)`", message.text)
    assert copied is not None
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    await run_sql(db, "DELETE FROM audit_checkpoint")
    await run_sql(db, "DELETE FROM audit_event WHERE id = 5")
    missing = f"1 event recorded by {GIVEN} is missing (the chain ends at event #4)"
    assert await _cli(capsys, "--checkpoint", copied[1]) == (1, "", f"audit chain broken: {missing}\n")


async def test_cli_export_marks_a_corrupt_row_and_exits_1_in_one_line(
    db: Database,
    database_url: str,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit_cli_env(monkeypatch, tmp_path, database_url)
    await seed_events(db, clock)
    value = "CAST('[1]' AS JSON)" if db.dialect == "postgresql" else "'not json'"
    await run_sql(db, f"UPDATE audit_event SET details = {value} WHERE id = 4")
    code = await asyncio.to_thread(cli.main, ["audit", "export"])
    captured = capsys.readouterr()
    assert code == 1 and captured.err == "1 corrupt event(s) exported as stored, marked corrupt: 4\n"
    assert [json.loads(line).get("corrupt", False) for line in captured.out.splitlines()] == [False] * 3 + [True, False]
