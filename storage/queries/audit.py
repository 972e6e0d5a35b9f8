"""Queries over the append-only audit log. Keyword-only, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.queries.dialect import Lock, take_lock
from storage.tables import AuditEvent


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends so two transactions never chain to the same predecessor."""
    await take_lock(session, Lock.AUDIT)


async def last_hash(session: AsyncSession) -> str | None:
    """The hash of the newest event, if any."""
    return await session.scalar(select(col(AuditEvent.hash)).order_by(col(AuditEvent.id).desc()).limit(1))


async def events_after(
    session: AsyncSession, *, after_id: int, limit: int, since: datetime | None = None
) -> list[AuditEvent]:
    """Up to `limit` events with ids above `after_id` (and at or after `since`), in id order."""
    query = select(AuditEvent).where(col(AuditEvent.id) > after_id)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    return list((await session.scalars(query.order_by(col(AuditEvent.id)).limit(limit))).all())
