"""Time one `reverification` run over 1k, 10k and 100k grants (1 % due) and count the SQL it issues.

    .venv/bin/python bench/sweep.py                      # throw-away SQLite files
    .venv/bin/python bench/sweep.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_jobs
    .venv/bin/python bench/sweep.py --sizes 1000 10000   # fewer sizes

Of the due grants, half are due for a reminder (in 3 days) and half are overdue (suspended by the
run), spread over 20 orgs with 2 admins each. The statement count comes from a SQLAlchemy
`before_cursor_execute` listener; seeding is not counted. A PostgreSQL URL is emptied first.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import apply_bench_directory
from sqlalchemy import event, insert, text
from sqlmodel import SQLModel

from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.scheduler.jobs import run_reverification
from trustbot.services.context import system_context
from trustbot.standin.sample import DEV
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade
from trustbot.storage.queries.directory import list_orgs
from trustbot.storage.tables import AccessRequest, Grant

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ORGS = 20
BATCH = 5000


def directory_yaml() -> str:
    """20 orgs, each with a rep and two admins."""
    orgs = "\n".join(
        f"  - {{slug: org{i}, name: Org {i}, domains: [org{i}.example], rep: U0REP{i:03d}, "
        f"admins: [U0ADA{i:03d}, U0ADB{i:03d}], verified_until: 2030-01-01}}"
        for i in range(ORGS)
    )
    return f"operators: [U0OPS1]\nreps_channel: C0REPS\nsecurity_channel: C0SEC\norgs:\n{orgs}\n"


async def seed(db: Database, clock: FixedClock, total: int) -> int:
    """Insert `total` approved requests and grants, 1 % of them due; returns how many are due."""
    async with db.transaction() as session:
        await apply_bench_directory(session, clock, Settings(_env_file=None), directory_yaml())
        org_ids = [o.id for o in await list_orgs(session)]
    due = max(1, total // 100)
    for start in range(0, total, BATCH):
        ids = range(start + 1, min(total, start + BATCH) + 1)
        requests, grants = [], []
        for i in ids:
            org_id = org_ids[i % ORGS]
            requests.append(
                {
                    "id": i,
                    "org_id": org_id,
                    "requester": "U0ADA000",
                    "members": [DEV],
                    "blanket": False,
                    "tier_id": "standard",
                    "use_case": "bench",
                    "justification": "bench" * 5,
                    "duration_days": 365,
                    "status": "approved",
                    "created_at": NOW,
                    "updated_at": NOW,
                    "message_key": f"request:{i}",
                }
            )
            if i <= due // 2:
                reverify = NOW + timedelta(days=3)  # due for a reminder
            elif i <= due:
                reverify = NOW - timedelta(hours=1)  # overdue: suspended
            else:
                reverify = NOW + timedelta(days=30 + i % 150)  # not due
            grants.append(
                {
                    "id": i,
                    "request_id": i,
                    "org_id": org_id,
                    "members": [DEV],
                    "blanket": False,
                    "tier_id": "standard",
                    "status": "active",
                    "starts_at": NOW - timedelta(days=10),
                    "expires_at": NOW + timedelta(days=355),
                    "reverify_due_at": reverify,
                }
            )
        async with db.transaction() as session:
            await session.execute(insert(AccessRequest), requests)
            await session.execute(insert(Grant), grants)
    if db.dialect == "postgresql":
        async with db.transaction() as session:
            for table in ("access_request", "access_grant"):
                await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})"))
            await session.execute(text("ANALYZE"))
    return due


async def reset_pg(url: str) -> None:
    """Empty a PostgreSQL database (migrating it first)."""
    await upgrade(url)
    import trustbot.storage.tables  # noqa: F401

    db = Database(url)
    async with db.transaction() as session:
        names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await db.dispose()


async def one(total: int, url: str | None, workdir: Path) -> dict[str, Any]:
    """Seed `total` grants in a fresh database and time one reverification run."""
    if url:
        await reset_pg(url)
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'sweep-{total}.db'}"
        await upgrade(url)
    db = Database(url)
    clock = FixedClock(NOW)
    try:
        due = await seed(db, clock, total)
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        started = time.perf_counter()
        outcome = await run_reverification(db, system_context(clock, Settings(_env_file=None)))  # type: ignore[call-arg]
        seconds = time.perf_counter() - started
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    finally:
        await db.dispose()
    return {"grants": total, "due": due, "seconds": seconds, "statements": statements, "outcome": outcome}


async def main(argv: list[str] | None = None) -> None:
    """Run the sweep and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL URL to use (emptied!); default: temporary SQLite files")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args(argv)
    print(f"backend: {'PostgreSQL' if args.url else 'SQLite'}")
    print(f"{'grants':>8} {'due':>6} {'seconds':>8} {'statements':>10}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            r = await one(size, args.url, Path(tmp))
            print(f"{r['grants']:>8} {r['due']:>6} {r['seconds']:>8.3f} {r['statements']:>10}  {r['outcome']}")


if __name__ == "__main__":
    asyncio.run(main())
