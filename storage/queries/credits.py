"""Queries over credit grants and usage records. Keyword-only, async, never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.dialect import Lock, take_lock
from trustbot.storage.tables import CreditGrant, UsageRecord


async def lock_usage(session: AsyncSession) -> None:
    """Serialise usage ingest: the same id sent by several requests at once is looked up and stored once."""
    await take_lock(session, Lock.USAGE)


async def credit_grants_by_ids(session: AsyncSession, *, ids: Iterable[str]) -> dict[str, CreditGrant]:
    """The credit grants with these ids, keyed by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await session.scalars(select(CreditGrant).where(col(CreditGrant.id).in_(wanted)))).all()
    return {g.id: g for g in rows}


async def usage_records_by_ids(session: AsyncSession, *, ids: Iterable[str]) -> dict[str, UsageRecord]:
    """The usage records already stored among these producer ids."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await session.scalars(select(UsageRecord).where(col(UsageRecord.id).in_(wanted)))).all()
    return {r.id: r for r in rows}


async def usage_named(
    session: AsyncSession, *, credit_grant_ids: Iterable[str], since: datetime | None = None
) -> dict[str, Decimal]:
    """Total usage of records that name each of these credit grants (optionally only from `since`)."""
    ids = sorted(set(credit_grant_ids))
    if not ids:
        return {}
    query = select(col(UsageRecord.credit_grant_id), func.sum(UsageRecord.amount_usd)).where(
        col(UsageRecord.credit_grant_id).in_(ids)
    )
    if since is not None:
        query = query.where(col(UsageRecord.occurred_at) >= since)
    rows = (await session.execute(query.group_by(col(UsageRecord.credit_grant_id)))).all()
    return {str(gid): Decimal(total or 0) for gid, total in rows}


async def usage_unnamed(session: AsyncSession, *, org_id: int, start: datetime, end: datetime) -> Decimal:
    """Total usage of the org's records naming no credit grant, occurring in [start, end)."""
    query = select(func.sum(UsageRecord.amount_usd)).where(
        col(UsageRecord.org_id) == org_id,
        col(UsageRecord.credit_grant_id).is_(None),
        col(UsageRecord.occurred_at) >= start,
        col(UsageRecord.occurred_at) < end,
    )
    return Decimal(await session.scalar(query) or 0)
