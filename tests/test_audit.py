"""The audit log's hash chain detects edits and deletions; the CLI reports both."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from bot.clock import FixedClock
from bot.services.audit import iter_audit_events, record_audit, verify_audit_chain
from storage.database import Database
from storage.tables import AuditEvent
from tests.conftest import START
from tests.factories import system

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
    from bot.cli import main

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
