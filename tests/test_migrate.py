"""The start-up path of migrations: head and current revision read without Alembic, Alembic only when behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from trustbot.storage.database import Database
from trustbot.storage.migrate import alembic_config, current_revision, head_revision, is_up_to_date, upgrade


def test_the_head_is_the_one_alembic_finds() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def test_a_migrated_database_is_at_head(db: Database) -> None:
    assert await current_revision(db.engine) == head_revision()
    assert await is_up_to_date(db.engine)


async def test_a_new_database_is_not_migrated_until_upgraded(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    db = Database(url)
    try:
        assert await current_revision(db.engine) is None
        assert not await is_up_to_date(db.engine)
        await upgrade(url)
        assert await current_revision(db.engine) == head_revision()
    finally:
        await db.dispose()


async def test_upgrade_at_head_does_not_run_alembic(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import alembic.command

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("Alembic ran on a database already at head")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    await upgrade(database_url)
    assert "alembic" in sys.modules  # imported by this test; the server itself would not have
