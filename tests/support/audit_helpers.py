"""Shared by the audit test modules: events seeded a minute apart, a checkpoint taken, the log
verified, and raw SQL for what someone with database access (and no key) can do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from tests.support.factories import system
from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.services.audit import record_audit
from trustbot.services.audit_checkpoints import AuditVerdict, Checkpoint, take_checkpoint, verify_audit_log
from trustbot.storage.database import Database

KEY = "test-audit-key"
CHANNEL = "C0AUDIT"
AT_5 = "2026-11-02T09:05:00Z"  # the clock after seeding five events, a minute apart


def missing_events(n: int, source: str, ends: int) -> str:
    """What verification says when the newest `n` events recorded by `source` are gone."""
    return f"{n} events recorded by {source} are missing (the chain ends at event #{ends})"


async def seed_events(db: Database, clock: FixedClock, n: int = 5, config: Settings | None = None) -> None:
    """Record `n` audit events, one a minute, each by its own actor and with a mention in its details."""
    for i in range(n):
        async with db.transaction() as session:
            details = {"i": i, "note": "<!channel>"}
            await record_audit(
                session, system(clock, config, as_user=f"U{i}"), action="t", subject=f"x:{i}", details=details
            )
        clock.advance(timedelta(minutes=1))


async def checkpoint_outcome(db: Database, clock: FixedClock, config: Settings | None = None) -> str:
    """Take a checkpoint; what the job would report."""
    async with db.transaction() as session:
        return (await take_checkpoint(session, system(clock, config))).outcome


async def verify_log(
    db: Database, clock: FixedClock, config: Settings | None = None, given: Checkpoint | None = None, batch: int = 5000
) -> AuditVerdict:
    """Verify the audit log (against `given`, or the newest stored checkpoint), reading `batch` events at a time."""
    async with db.sessions() as session:
        return await verify_audit_log(session, system(clock, config), given=given, batch=batch)


async def run_sql(db: Database, statement: str, **params: Any) -> None:
    """Run one statement in its own transaction, bypassing the product."""
    async with db.transaction() as session:
        await session.execute(text(statement), params)


async def rows_of(db: Database, table: Any) -> list[Any]:
    """Every row of `table`, in id order."""
    async with db.sessions() as session:
        return list((await session.scalars(select(table).order_by(table.id))).all())


def audit_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, **extra: str) -> None:
    """The environment of an `audit` CLI run on `url`: no `.env`, no audit key or channel unless in `extra`."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("TRUSTBOT_AUDIT_KEY", "TRUSTBOT_AUDIT_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"DATABASE_URL": url, **extra}.items():
        monkeypatch.setenv(name, value)


async def rewrite_as_plain(db: Database, *, from_id: int = 1, edited: int | None = None) -> None:
    """What someone with database access but no key can do: edit event `edited` (default `from_id`), then
    recompute every hash from event `from_id` on as plain SHA-256, so each link and hash checks out on its own."""
    from trustbot.services.audit import compute_hash
    from trustbot.storage.tables import AuditEvent

    async with db.transaction() as session:
        query = select(AuditEvent).where(col(AuditEvent.id) >= from_id).order_by(col(AuditEvent.id))
        events = list((await session.scalars(query)).all())
        events[(edited or from_id) - from_id].actor = "UEVIL"
        prev = events[0].prev_hash
        for e in events:
            e.prev_hash, e.scheme = prev, "sha256"
            e.hash = compute_hash(
                prev_hash=prev, at=e.at, actor=e.actor, action=e.action, subject=e.subject, details=e.details
            )
            prev = e.hash
