"""The audit log's hash chain detects edits and deletions; the CLI reports both."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, update

from bot.clock import FixedClock
from bot.services.audit import iter_audit_events, record_audit, verify_audit_chain
from storage.database import Database
from storage.tables import AuditEvent


async def _seed(db: Database, clock: FixedClock, n: int = 5) -> None:
    for i in range(n):
        async with db.transaction() as session:
            await record_audit(
                session,
                clock,
                actor=f"U{i}",
                action="test.event",
                subject=f"thing:{i}",
                details={"i": i, "note": "<!channel>"},
            )
        clock.advance(timedelta(minutes=1))


async def test_intact_chain_verifies(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert report.intact and report.count == 5


async def test_edited_event_is_named(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.transaction() as session:
        await session.execute(update(AuditEvent).where(AuditEvent.id == 3).values(actor="UEVIL"))
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert not report.intact and report.first_bad_id == 3 and "edited" in (report.problem or "")


async def test_deleted_event_breaks_the_next_link(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    async with db.transaction() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == 2))
    async with db.sessions() as session:
        report = await verify_audit_chain(session)
    assert report.first_bad_id == 3 and report.count == 1


async def test_rolled_back_transaction_leaves_no_event(db: Database, clock: FixedClock) -> None:
    try:
        async with db.transaction() as session:
            await record_audit(session, clock, actor="U1", action="x", subject="y")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with db.sessions() as session:
        assert (await verify_audit_chain(session)).count == 0


async def test_export_since_filters_by_time(db: Database, clock: FixedClock) -> None:
    start = clock.now()
    await _seed(db, clock)
    async with db.sessions() as session:
        events = [e async for e in iter_audit_events(session, since=start + timedelta(minutes=3))]
    assert [e.subject for e in events] == ["thing:3", "thing:4"]


def test_cli_verify_and_export(tmp_path, monkeypatch, capsys) -> None:
    import asyncio

    from bot.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0

    async def seed() -> None:
        database = Database(url)
        await _seed(database, FixedClock(__import__("tests.conftest", fromlist=["START"]).START), 3)
        await database.dispose()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert "3 events" in capsys.readouterr().out
    assert main(["audit", "export", "--since", "2026-11-02T09:01:00Z"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["thing:1", "thing:2"]
    assert main(["audit", "export", "--since", "yesterday"]) == 2

    async def tamper() -> None:
        database = Database(url)
        async with database.transaction() as session:
            await session.execute(update(AuditEvent).where(AuditEvent.id == 2).values(details={"i": 99}))
        await database.dispose()

    asyncio.run(tamper())
    assert main(["audit", "verify"]) == 1
    assert "event 2" in capsys.readouterr().err
