"""Slack events already handled. Keyword-only, async, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.storage.queries.dialect import upsert
from trustbot.storage.tables import ProcessedSlackEvent


async def record_event(session: AsyncSession, *, event_id: str, at: datetime) -> bool:
    """Remember an `event_id`; False when it was handled before (a retry or a repeat)."""
    statement = (
        upsert(session, ProcessedSlackEvent)
        .values(event_id=event_id[:64], at=at)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ProcessedSlackEvent.event_id)
    )
    return (await session.execute(statement)).scalar() is not None
