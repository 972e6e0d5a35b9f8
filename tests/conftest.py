"""Shared fixtures: databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), the fake
Slack Web API server, and a running Trustbot reached through signed HTTP. What they are built from
lives in `tests/support/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.bots import START, RunningBot, start_bot
from tests.support.databases import BACKENDS, POSTGRES, SQLITE
from tests.support.tasks import end_leftover_tasks
from trustbot.clock import FixedClock
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import PEOPLE
from trustbot.storage.database import Database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Drills and slow tests first (otherwise in collection order): on two workers the long ones then
    run while short ones are still queued to fill in beside them, instead of one worker finishing
    alone with the last long test."""
    items.sort(key=lambda item: item.get_closest_marker("drill") is None and item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def _session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trustbot")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, _session_tmp: Path) -> str:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        return SQLITE.copy_to(tmp_path / "trustbot.db", _session_tmp)
    assert POSTGRES is not None
    return POSTGRES.reset()


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
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API server on 127.0.0.1, knowing the sample people."""
    fake = FakeSlack(users=dict(PEOPLE))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot with the sample directory, reached over real HTTP."""
    running = await start_bot(database_url, fake_slack, clock)
    yield running
    await running.close()


@pytest.fixture(autouse=True)
async def _no_task_outlives_its_test() -> AsyncIterator[None]:
    """After each test (and its fixtures' teardown), end what it left running: see `tests.support.tasks`."""
    yield
    await end_leftover_tasks(timeout=5)
