"""The test databases: SQLite always, PostgreSQL too when `TEST_DATABASE_URL` is set.

SQLite: one migrated file per test process, copied for each test. PostgreSQL: one database per
pytest-xdist worker, derived from `TEST_DATABASE_URL` (`<name>_gw0`, `<name>_gw1`, …) and created if
missing, migrated once per process and emptied before each test, so workers never empty each other's
tables or end each other's connections.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import trustbot.storage.tables  # noqa: F401  (every table in SQLModel.metadata, to empty them)
from trustbot.storage.migrate import upgrade

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
# The database that exists on every PostgreSQL server: where a missing test database is created from.
MAINTENANCE_DATABASE = "postgres"

_END_OTHER_SESSIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def worker_id() -> str | None:
    """This pytest-xdist worker's name (`gw0`, …), or None outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def worker_database_url(url: str, worker: str | None) -> str:
    """`url` with this worker's own database name: `…/test` becomes `…/test_gw0` on worker gw0."""
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` (through the maintenance database) unless it exists."""
    parsed = make_url(url)
    name = parsed.database
    assert name, f"no database name in {parsed!r}"
    maintenance = parsed.set(database=MAINTENANCE_DATABASE)
    engine = create_async_engine(maintenance, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not found:
                quoted = name.replace('"', '""')
                await connection.execute(text(f'CREATE DATABASE "{quoted}"'))
    finally:
        await engine.dispose()


# Every table emptied, children before parents, in one statement. DELETE rather than TRUNCATE: on
# tables this small it is several times faster (TRUNCATE makes a new file for each table).
_EMPTY_EVERY_TABLE = (
    "DO $$ BEGIN "
    + " ".join(f'DELETE FROM "{table.name}";' for table in reversed(SQLModel.metadata.sorted_tables))
    + " END $$"
)
# Ids start at 1 again in every test, as after `TRUNCATE … RESTART IDENTITY`.
_RESTART_EVERY_SEQUENCE = """
SELECT setval(c.oid, 1, false) FROM pg_class c
WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace
"""


class PostgresTestDatabase:
    """This process's PostgreSQL test database: created and migrated on first use, emptied before each test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._migrated = False

    async def _migrate(self) -> None:
        await ensure_database(self.url)
        engine = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()
        await upgrade(self.url)
        self._migrated = True

    async def _empty(self) -> None:
        engine = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                # A connection left behind by an earlier test (its event loop closed, or a child process
                # not yet reaped) can hold a transaction open, and emptying the tables would wait for it.
                await connection.execute(text(_END_OTHER_SESSIONS))
                await connection.execute(text("SET LOCAL lock_timeout = '20s'"))
                await connection.execute(text(_EMPTY_EVERY_TABLE))
                await connection.execute(text(_RESTART_EVERY_SEQUENCE))
        finally:
            await engine.dispose()

    async def _reset(self) -> None:
        if not self._migrated:
            await self._migrate()
        await self._empty()

    def reset(self) -> str:
        """Migrate the database once per process, then empty every table; its URL."""
        asyncio.run(self._reset())
        return self.url


class SqliteTemplate:
    """One migrated SQLite file per process; each test gets a copy (much faster than migrating)."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def copy_to(self, path: Path, scratch: Path) -> str:
        """A migrated, empty database at `path` (the template is made in `scratch` on first use); its URL."""
        if self._path is None:
            template = scratch / "template.db"
            asyncio.run(upgrade(f"sqlite+aiosqlite:///{template}"))
            self._path = template
        shutil.copy(self._path, path)
        return f"sqlite+aiosqlite:///{path}"


POSTGRES = PostgresTestDatabase(worker_database_url(TEST_DATABASE_URL, worker_id())) if TEST_DATABASE_URL else None
# This process's PostgreSQL test database (this worker's own), or None when only SQLite is tested.
PG_URL = POSTGRES.url if POSTGRES else None
SQLITE = SqliteTemplate()
