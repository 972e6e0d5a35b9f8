"""Shared fixtures: databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
the fake Slack Web API server, and a running Trustbot reached through signed HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import traceback
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.standin.sample import DIRECTORY_YAML, PEOPLE  # noqa: F401  (re-exported to tests)
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade

SIGNING_SECRET = "test-signing-secret"
INGEST_SECRET = "test-ingest-secret"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

_template_dir: Path | None = None
_pg_migrated = False


def _sqlite_template(tmp_root: Path) -> Path:
    """Migrate one SQLite file per session; each test copies it (much faster than migrating)."""
    global _template_dir
    if _template_dir is None:
        _template_dir = tmp_root
        asyncio.run(upgrade(f"sqlite+aiosqlite:///{tmp_root / 'template.db'}"))
    return _template_dir / "template.db"


_END_OTHER_SESSIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def _pg_reset() -> None:
    """Migrate the PostgreSQL test database once per session, then empty it before each test."""
    global _pg_migrated

    async def reset() -> None:
        global _pg_migrated
        engine = create_async_engine(PG_URL, poolclass=NullPool)  # type: ignore[arg-type]
        async with engine.begin() as connection:
            if not _pg_migrated:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
        if not _pg_migrated:
            await upgrade(PG_URL)  # type: ignore[arg-type]
            _pg_migrated = True
        import trustbot.storage.tables  # noqa: F401

        engine = create_async_engine(PG_URL, poolclass=NullPool)  # type: ignore[arg-type]
        async with engine.begin() as connection:
            # A connection left behind by an earlier test (its event loop closed, or a child process
            # not yet reaped) can hold a transaction open, and TRUNCATE would wait for it forever.
            await connection.execute(text(_END_OTHER_SESSIONS))
            await connection.execute(text("SET LOCAL lock_timeout = '20s'"))
            names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def _session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trustbot")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _session_tmp: Path) -> str:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "trustbot.db"
        shutil.copy(_sqlite_template(_session_tmp), path)
        return f"sqlite+aiosqlite:///{path}"
    _pg_reset()
    return PG_URL  # type: ignore[return-value]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A `Database` on the per-test database."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """A clock frozen at a Monday morning; tests move it explicitly."""
    return FixedClock(START)


@pytest.fixture
async def fake_slack() -> AsyncIterator[Any]:
    """The fake Slack Web API server on 127.0.0.1."""
    from trustbot.standin.fake_slack import FakeSlack

    fake = FakeSlack(users=dict(USERS))
    await fake.start()
    yield fake
    await fake.stop()


USERS = PEOPLE


def make_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    """Settings for a test bot: no `.env`, fast delivery, no background scheduler."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": 0,
        "TRUSTBOT_INGEST_SECRET": INGEST_SECRET,
        "TRUSTBOT_CHANNEL_PACE_SECONDS": 0,
        "TRUSTBOT_OUTBOX_POLL_SECONDS": 0.05,
        "TRUSTBOT_OUTBOX_LEASE_SECONDS": 5,
        "TRUSTBOT_SCHEDULER_ENABLED": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    """A Trustbot serving on 127.0.0.1, its fake Slack, and a driver that signs requests."""

    server: Any
    slack: Any
    driver: Any
    clock: FixedClock

    @property
    def rt(self) -> Any:
        return self.server.rt

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait for listeners still working after their ack, then deliver everything queued."""
        assert await self.rt.post_ack.wait(timeout), "listeners still running after their ack"
        await self.rt.delivery.drain(timeout=timeout)


async def start_bot(database_url: str, fake_slack: Any, clock: FixedClock, **overrides: Any) -> RunningBot:
    """Start a Trustbot with the test directory applied."""
    from trustbot.standin.slack_requests import SlackDriver
    from trustbot.web.server import TrustbotServer

    settings = make_settings(database_url, fake_slack.api_url, **overrides)
    server = TrustbotServer(settings, clock=clock)
    await server.start(migrate=False)
    from tests.support.factories import seed_directory

    await seed_directory(server.rt.db, clock, config=settings)
    await server.preflight_finished()
    driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake_slack)
    return RunningBot(server=server, slack=fake_slack, driver=driver, clock=clock)


@pytest.fixture
async def bot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot with the test directory, reached over real HTTP."""
    running = await start_bot(database_url, fake_slack, clock)
    yield running
    await running.driver.close()
    await running.server.stop()


@pytest.fixture(autouse=True)
async def _no_task_outlives_its_test() -> AsyncIterator[None]:
    """After each test (and its fixtures' teardown), cancel what is left and wait for it, briefly.

    The event loop's own close waits for every task without a limit, so one task that ignores its
    cancellation (seen rarely, inside a database driver cancelled mid-query) would stall the whole run.
    Such a task is reported with its stack and let go, so the run goes on and the report says where.
    """
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    if not left:
        return
    _, stuck = await asyncio.wait(left, timeout=5)
    for task in stuck:
        stack = "".join(traceback.format_stack(task.get_stack()[-1])) if task.get_stack() else ""
        warnings.warn(f"a task ignored its cancellation and was let go: {task!r}\n{stack}", stacklevel=1)
        asyncio.tasks._unregister_task(task)  # the loop's close would otherwise wait for it forever
