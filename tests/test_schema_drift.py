"""The migrations build exactly the schema the tables declare, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import trustbot.storage.tables  # noqa: F401  (registers every table)
from trustbot.storage.database import Database


def _drift(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff
        for diff in compare_metadata(context, SQLModel.metadata)
        if diff[0] != "remove_table" or diff[1].name != "alembic_version"
    ]


async def test_the_migrated_database_matches_the_tables(db: Database) -> None:
    async with db.engine.connect() as connection:
        drift = await connection.run_sync(_drift)
    assert drift == []
