"""Counts across every org, for the operators' overview. Keyword-only, async, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.tables import ACTIVE_ALERTS, LIVE_GRANTS, OPEN_REQUESTS, AccessRequest, Alert, Grant, Org


async def _count_by(session: AsyncSession, column: Any, status: Any, statuses: Sequence[str]) -> dict[str, int]:
    query = select(column, func.count()).where(status.in_(list(statuses))).group_by(column)
    return {str(key): int(n) for key, n in (await session.execute(query)).all()}


async def count_orgs(session: AsyncSession) -> int:
    """How many orgs the directory holds."""
    return int(await session.scalar(select(func.count()).select_from(Org)) or 0)


async def open_requests_by_status(session: AsyncSession) -> dict[str, int]:
    """Open requests, counted by status."""
    return await _count_by(session, col(AccessRequest.status), col(AccessRequest.status), OPEN_REQUESTS)


async def live_grants_by_status(session: AsyncSession) -> dict[str, int]:
    """Active and suspended grants, counted by status."""
    return await _count_by(session, col(Grant.status), col(Grant.status), LIVE_GRANTS)


async def active_alerts_by_severity(session: AsyncSession) -> dict[str, int]:
    """Active alerts, counted by severity."""
    return await _count_by(session, col(Alert.severity), col(Alert.status), ACTIVE_ALERTS)
