"""The audit log's hash chain detects edits and deletions; the CLI reports both (and refuses a database it cannot
read); its settings, the `--checkpoint` argument, and events recorded before migration 0004 (see also
`test_audit_tamper`)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, select, update

from tests.support.audit_helpers import KEY, audit_cli_env, rows_of, run_sql, seed_events, verify_log
from tests.support.bots import START
from tests.support.factories import settings, system
from trustbot.cli import main as cli
from trustbot.clock import FixedClock
from trustbot.services.audit import compute_hash, iter_audit_events, record_audit, verify_audit_chain
from trustbot.services.audit_checkpoints import GIVEN, Checkpoint, parse_checkpoint
from trustbot.storage.database import Database
from trustbot.storage.migrate import alembic_config, head_revision, upgrade
from trustbot.storage.tables import AuditEvent

EDITED = "its contents do not match its hash (it was edited)"
UNLINKED = "its link to the previous event is broken (an event was removed or reordered)"


async def _seed(db: Database, clock: FixedClock, n: int = 5) -> None:
    for i in range(n):
        async with db.transaction() as session:
            await record_audit(
                session,
                system(clock, as_user=f"U{i}"),
                action="test.event",
                subject=f"thing:{i}",
                details={"i": i, "note": "<!channel>"},
            )
        clock.advance(timedelta(minutes=1))


async def test_intact_chain_verifies(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert (report.intact, report.count, report.first_bad_id, report.problem) == (True, 5, None, None)
    # The actor is the context's user; each event links to the one before it.
    assert [(e.actor, e.subject, e.details) for e in events] == [
        (f"U{i}", f"thing:{i}", {"i": i, "note": "<!channel>"}) for i in range(5)
    ]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


async def test_edited_event_is_named(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.transaction() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.id == 3).values(actor="UEVIL"))
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert (report.intact, report.first_bad_id, report.count, report.problem) == (False, 3, 2, EDITED)


async def test_deleted_event_breaks_the_next_link(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.transaction() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == 2))
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert (report.intact, report.first_bad_id, report.count, report.problem) == (False, 3, 1, UNLINKED)


async def test_rolled_back_transaction_leaves_no_event(db: Database, clock: FixedClock) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as session:
            await record_audit(session, system(clock, as_user="U1"), action="x", subject="y")
            raise RuntimeError("boom")
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert (report.intact, report.count) == (True, 0)


async def test_export_since_filters_by_time(db: Database, clock: FixedClock) -> None:
    start = clock.now()
    await _seed(db, clock)
    async with db.sessions() as session:
        events = [e async for e in iter_audit_events(session, since=start + timedelta(minutes=3))]
    assert [e.subject for e in events] == ["thing:3", "thing:4"]


def test_cli_verify_and_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trustbot.cli.main import main

    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0

    async def seed() -> None:
        database = Database(url)
        await _seed(database, FixedClock(START), 3)
        await database.dispose()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == "audit chain intact: 3 events\n"
    assert main(["audit", "export", "--since", "2026-11-02T09:01:00Z"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    exported = [json.loads(line) for line in lines]
    assert {e["scheme"] for e in exported} == {"sha256"}
    assert [(e["id"], e["at"], e["actor"], e["subject"]) for e in exported] == [
        (2, "2026-11-02T09:01:00Z", "U1", "thing:1"),
        (3, "2026-11-02T09:02:00Z", "U2", "thing:2"),
    ]
    assert main(["audit", "export", "--since", "yesterday"]) == 2
    assert "--since 'yesterday' is not an RFC 3339 time" in capsys.readouterr().err

    async def tamper() -> None:
        database = Database(url)
        async with database.transaction() as session:
            await session.execute(update(AuditEvent).where(AuditEvent.id == 2).values(details={"i": 99}))
        await database.dispose()

    asyncio.run(tamper())
    assert main(["audit", "verify"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"audit chain broken at event 2: {EDITED}\n" and captured.out == ""


def test_a_checkpoint_argument_is_count_colon_hash() -> None:
    digest = "ab" * 32
    assert parse_checkpoint(f" 12:{digest.upper()} ") == Checkpoint(12, digest, GIVEN)
    for bad in ("", "12", f"0:{digest}", f"-1:{digest}", f"12:{digest[:-1]}", f"12:{digest}z", f"x:{digest}"):
        with pytest.raises(ValueError, match="is not COUNT:HASH"):
            parse_checkpoint(bad)


async def test_events_recorded_before_the_migration_stay_valid(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0003")
    db = Database(url)
    try:
        prev = "0" * 64
        for i in range(3):
            at = clock.now() + timedelta(minutes=i)
            digest = compute_hash(prev_hash=prev, at=at, actor="U1", action="old", subject=f"x:{i}", details={"i": i})
            await run_sql(
                db,
                "INSERT INTO audit_event (at, actor, action, subject, details, prev_hash, hash) "
                "VALUES (:at, 'U1', 'old', :subject, :details, :prev, :hash)",
                at=at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                subject=f"x:{i}",
                details=f'{{"i": {i}}}',
                prev=prev,
                hash=digest,
            )
            prev = digest
        await upgrade(url)
        clock.advance(timedelta(minutes=5))
        keyed = settings(TRUSTBOT_AUDIT_KEY=KEY)
        await seed_events(db, clock, 1, keyed)
        assert [e.scheme for e in await rows_of(db, AuditEvent)] == ["sha256"] * 3 + ["hmac-sha256"]
        assert (await verify_log(db, clock, keyed)).chain.count == 4
    finally:
        await db.dispose()


def test_cli_unmigrated_or_unreachable_database_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def verify(url: str) -> tuple[int, str]:
        audit_cli_env(monkeypatch, tmp_path, url)
        code = cli.main(["audit", "verify"])
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        return code, captured.err

    upgrade_hint = "run `trustbot db upgrade`"
    assert verify(f"sqlite+aiosqlite:///{tmp_path}/empty.db") == (
        2,
        f"trustbot: the database is not migrated: {upgrade_hint}\n",
    )
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{tmp_path}/old.db"), "0003")
    assert verify(f"sqlite+aiosqlite:///{tmp_path}/old.db") == (
        2,
        f"trustbot: the database is at revision 0003, not {head_revision()}: {upgrade_hint}\n",
    )
    assert verify(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db") == (
        2,
        f"trustbot: cannot reach the database at DATABASE_URL sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db: "
        "unable to open database file\n",
    )
    code, err = verify("postgresql+asyncpg://trustbot@127.0.0.1:9/none")
    assert code == 2 and err.startswith("trustbot: cannot reach the database at DATABASE_URL postgresql+asyncpg://")


def test_the_audit_settings() -> None:
    s = settings(TRUSTBOT_AUDIT_KEY="very-secret-key", TRUSTBOT_AUDIT_CHANNEL=" C0AUDIT ")
    assert s.audit_key is not None and s.audit_key.get_secret_value() == "very-secret-key"
    assert "very-secret-key" not in repr(s) and "very-secret-key" not in str(s.model_dump())
    assert s.audit_channel == "C0AUDIT"
    blank = settings(TRUSTBOT_AUDIT_KEY=" ", TRUSTBOT_AUDIT_CHANNEL="")
    assert (blank.audit_key, blank.audit_channel) == (None, None)
    assert (settings().audit_key, settings().audit_channel) == (None, None)
