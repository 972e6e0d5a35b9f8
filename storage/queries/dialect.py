"""What differs between SQLite and PostgreSQL, decided in one place: upserts and advisory locks."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


class Lock(IntEnum):
    """Advisory lock ids: each serialises one kind of writer on PostgreSQL."""

    AUDIT = 7_316_001
    DIRECTORY = 7_316_002
    INGEST = 7_316_004
    USAGE = 7_316_005


def dialect_of(session: AsyncSession) -> str:
    """`sqlite` or `postgresql` for the session's connection."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def upsert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` support in the session's dialect (both share that API)."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def take_lock(session: AsyncSession, lock: Lock) -> None:
    """Serialise writers of one kind until the transaction ends.

    SQLite transactions already hold the database's write lock (`BEGIN IMMEDIATE`); PostgreSQL
    takes a transaction-scoped advisory lock.
    """
    if dialect_of(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(lock)})
