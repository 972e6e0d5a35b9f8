"""The audit chain is tied to TRUSTBOT_AUDIT_KEY: with database write access but no key, someone can
recompute every event as plain SHA-256 and delete every checkpoint. `audit verify` with the key, and
the `audit-checkpoint` job, must not take that for an intact log (trustbot.services.audit_anchor)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.audit_helpers import (
    CHANNEL,
    KEY,
    audit_cli_env,
    checkpoint_outcome,
    rewrite_as_plain,
    rows_of,
    run_sql,
    seed_events,
)
from tests.support.bots import make_settings
from tests.support.factories import settings
from trustbot.cli import main as cli
from trustbot.clock import FixedClock
from trustbot.services.audit_anchor import NO_SIGNED_CHECKPOINT, UNANCHORED, checkpoints_gone
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditCheckpoint, AuditEvent
from trustbot.web.server import TrustbotServer

KEYED = settings(TRUSTBOT_AUDIT_KEY=KEY)


async def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(cli.main, ["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def keyed_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    """`trustbot audit verify` runs with the audit key."""
    audit_cli_env(monkeypatch, tmp_path, database_url, TRUSTBOT_AUDIT_KEY=KEY)


@pytest.mark.usefixtures("keyed_cli")
async def test_a_keyed_chain_rewritten_as_plain_with_every_checkpoint_deleted_is_caught(
    db: Database, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_events(db, clock, config=KEYED)
    await checkpoint_outcome(db, clock, KEYED)
    await rewrite_as_plain(db)
    await run_sql(db, "DELETE FROM audit_checkpoint")
    assert await _verify(capsys) == (1, "", f"audit chain broken: {UNANCHORED}\n")
    # … and the job does not sign the forged head into a fresh checkpoint.
    assert await checkpoint_outcome(db, clock, KEYED) == f"no checkpoint recorded: {UNANCHORED}"
    assert await rows_of(db, AuditCheckpoint) == []


@pytest.mark.usefixtures("keyed_cli")
async def test_deleting_every_checkpoint_of_a_keyed_chain_is_caught(
    db: Database, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_events(db, clock, 3, KEYED)
    assert (await checkpoint_outcome(db, clock, KEYED)).startswith("checkpoint 4:")  # its own event is #4
    await seed_events(db, clock, 2, KEYED)
    await run_sql(db, "DELETE FROM audit_checkpoint")
    gone = checkpoints_gone(4, None)
    assert await _verify(capsys) == (1, "", f"audit chain broken: {gone}\n")
    assert await checkpoint_outcome(db, clock, KEYED) == f"no checkpoint recorded: {gone}"
    assert await rows_of(db, AuditCheckpoint) == []


@pytest.mark.usefixtures("keyed_cli")
async def test_with_the_key_an_empty_chain_is_not_intact_and_one_without_a_signed_checkpoint_warns(
    db: Database, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _verify(capsys) == (1, "", f"audit chain broken: {UNANCHORED}\n")  # 0 events, 0 checkpoints
    await seed_events(db, clock, 2, KEYED)
    assert await _verify(capsys) == (0, "audit chain intact: 2 events\n", f"warning: {NO_SIGNED_CHECKPOINT}\n")
    await checkpoint_outcome(db, clock, KEYED)
    assert (await _verify(capsys))[2] == ""


@pytest.mark.usefixtures("keyed_cli")
async def test_serve_started_with_a_key_keys_a_plain_chain_once_and_says_so(
    db: Database,
    database_url: str,
    clock: FixedClock,
    fake_slack: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_events(db, clock, 2, settings(TRUSTBOT_AUDIT_KEY=" "))  # recorded before the key was set
    config = make_settings(database_url, fake_slack.api_url, TRUSTBOT_AUDIT_KEY=KEY, TRUSTBOT_AUDIT_CHANNEL=CHANNEL)
    for _ in range(2):  # a second start keys nothing more
        server = TrustbotServer(config, clock=clock)
        try:
            await server.start()
            await server.rt.delivery.drain()
        finally:
            await server.stop()
    events = await rows_of(db, AuditEvent)
    assert [(e.action, e.scheme) for e in events] == [("t", "sha256")] * 2 + [("audit.keyed", "hmac-sha256")]
    assert events[-1].details == {"keyed_from": 3, "plain_before": 2}
    [said] = fake_slack.messages(CHANNEL)
    assert "keyed with TRUSTBOT_AUDIT_KEY from event #3 on" in said.text and "trustbot audit verify" in said.text
    assert await _verify(capsys) == (0, "audit chain intact: 3 events\n", f"warning: {NO_SIGNED_CHECKPOINT}\n")
    # From the keyed event on, a plain event is a downgrade: rewriting the tail without the key is caught.
    await rewrite_as_plain(db, from_id=3)
    code, _, err = await _verify(capsys)
    assert code == 1 and err == f"audit chain broken: {UNANCHORED}\n"
