"""Alembic environment: runs migrations over the async engine."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import trustbot.storage.tables  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_without_fsync_per_statement(engine: AsyncEngine) -> None:
    """WAL with synchronous=NORMAL, as the app runs SQLite: each DDL statement of a migration commits on
    its own, and in the default rollback journal every commit waits for an fsync (~1 s for a fresh
    database on a busy disk); in WAL only checkpoints do. Foreign keys stay off, as batch mode needs."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _sqlite_without_fsync_per_statement(engine)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
