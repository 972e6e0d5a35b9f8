"""Once-only notice keys. Keyword-only, never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.storage.queries.dialect import upsert
from trustbot.storage.tables import SentNotice

# Two bound parameters per row; stays under SQLite's 32766 and asyncpg's 32767 limits.
_CHUNK = 5000


async def claim_keys(session: AsyncSession, *, keys: Iterable[str], at: datetime) -> set[str]:
    """Insert every key not yet stored; return the keys this call inserted.

    `INSERT … ON CONFLICT DO NOTHING RETURNING key`: of two racing callers each key goes to one.
    """
    wanted = sorted(set(keys))
    won: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = [{"key": key, "at": at} for key in wanted[start : start + _CHUNK]]
        statement = (
            upsert(session, SentNotice)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(SentNotice.key)
        )
        won.update((await session.execute(statement)).scalars().all())
    return won
