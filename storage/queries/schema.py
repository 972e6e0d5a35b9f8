"""The schema revision a database is at, read without Alembic (cheap enough for every start and probe)."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

# Alembic's own bookkeeping table, as Alembic creates it.
VERSION_TABLE = Table("alembic_version", MetaData(), Column("version_num", String(32), primary_key=True))


async def stored_revisions(connection: AsyncConnection) -> list[str]:
    """The revisions recorded in `alembic_version`; empty when the database was never migrated."""
    exists = await connection.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE.name))
    if not exists:
        return []
    return list((await connection.execute(select(VERSION_TABLE.c.version_num))).scalars())
