"""Apply and inspect Alembic migrations programmatically."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this version."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest revision (runs Alembic in a worker thread)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """True when the database answers and sits at the head revision."""
    return await current_revision(engine) == head_revision()
