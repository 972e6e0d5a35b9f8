"""Set-based queries for the scheduled grant, request and org jobs. Keyword-only, async, never commit.

Every query here fetches or changes only the rows that are due, through indexed columns
(`reverify_due_at`, `expires_at`, `status`, `org_id`), so a job run issues a number of SQL
statements that does not grow with the total number of grants. State changes are conditional
`UPDATE … WHERE id IN (…) AND <still due> RETURNING id`: of two racing runners exactly one wins
each row, and only the winner announces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import AccessRequest, Grant, GrantStatus, Org, RequestStatus

LIVE: tuple[str, ...] = (GrantStatus.ACTIVE, GrantStatus.SUSPENDED)
OPEN: tuple[str, ...] = (RequestStatus.PENDING, RequestStatus.INFO_REQUESTED)
# Keeps `IN (…)` lists well under SQLite's and asyncpg's bound-parameter limits.
CHUNK = 2000


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


async def reverify_reminder_candidates(session: AsyncSession, *, now: datetime, until: datetime) -> list[Grant]:
    """Active grants whose re-verification falls in (now, until] and before they expire."""
    query = (
        select(Grant)
        .where(
            Grant.status == GrantStatus.ACTIVE,
            Grant.reverify_due_at > now,
            Grant.reverify_due_at <= until,
            Grant.reverify_due_at < Grant.expires_at,
        )
        .order_by(Grant.reverify_due_at, Grant.id)
    )
    return list((await session.scalars(query)).all())


async def overdue_reverifications(session: AsyncSession, *, now: datetime) -> list[Grant]:
    """Active, unexpired grants whose re-verification is due at or before `now`."""
    query = (
        select(Grant)
        .where(
            Grant.status == GrantStatus.ACTIVE,
            Grant.reverify_due_at <= now,
            Grant.expires_at > now,
        )
        .order_by(Grant.reverify_due_at, Grant.id)
    )
    return list((await session.scalars(query)).all())


async def expiring_grants(session: AsyncSession, *, now: datetime, until: datetime) -> list[Grant]:
    """Live grants that expire in (now, until]."""
    query = (
        select(Grant)
        .where(
            Grant.status.in_(LIVE),
            Grant.expires_at > now,
            Grant.expires_at <= until,  # type: ignore[attr-defined]
        )
        .order_by(Grant.expires_at, Grant.id)
    )
    return list((await session.scalars(query)).all())


async def expired_grants(session: AsyncSession, *, now: datetime) -> list[Grant]:
    """Live grants whose `expires_at` has passed."""
    query = select(Grant).where(Grant.status.in_(LIVE), Grant.expires_at <= now).order_by(Grant.expires_at, Grant.id)  # type: ignore[attr-defined]
    return list((await session.scalars(query)).all())


async def transition_grants(
    session: AsyncSession, *, grant_ids: Sequence[int], where: Sequence[Any], values: dict[str, Any]
) -> list[int]:
    """Conditionally update many grants; returns the ids this call changed (the rows it won)."""
    won: list[int] = []
    for chunk in _chunks(sorted(set(grant_ids))):
        result = await session.execute(
            update(Grant)
            .where(Grant.id.in_(chunk), *where)  # type: ignore[union-attr]
            .values(**values)
            .returning(Grant.id)
            .execution_options(synchronize_session=False)
        )
        won.extend(result.scalars().all())
    return sorted(won)


async def suspend_org_grants(
    session: AsyncSession, *, org_ids: Sequence[int], reason: str, at: datetime
) -> list[tuple[int, int]]:
    """Suspend every active grant of these orgs; returns (grant id, org id) for each one changed."""
    if not org_ids:
        return []
    result = await session.execute(
        update(Grant)
        .where(Grant.org_id.in_(list(org_ids)), Grant.status == GrantStatus.ACTIVE)  # type: ignore[attr-defined]
        .values(status=GrantStatus.SUSPENDED, suspended_reason=reason, suspended_at=at)
        .returning(Grant.id, Grant.org_id)
        .execution_options(synchronize_session=False)
    )
    return sorted((int(a), int(b)) for a, b in result.all())


async def restore_org_grants(session: AsyncSession, *, org_ids: Sequence[int], reason: str) -> list[tuple[int, int]]:
    """Re-activate grants of these orgs suspended for `reason`; returns (grant id, org id) changed."""
    if not org_ids:
        return []
    result = await session.execute(
        update(Grant)
        .where(
            Grant.org_id.in_(list(org_ids)),  # type: ignore[attr-defined]
            Grant.status == GrantStatus.SUSPENDED,
            Grant.suspended_reason == reason,
        )
        .values(status=GrantStatus.ACTIVE, suspended_reason=None, suspended_at=None)
        .returning(Grant.id, Grant.org_id)
        .execution_options(synchronize_session=False)
    )
    return sorted((int(a), int(b)) for a, b in result.all())


async def grants_by_ids(session: AsyncSession, *, grant_ids: Sequence[int]) -> list[Grant]:
    """The grants with these ids, fresh from the database, by id."""
    rows: list[Grant] = []
    for chunk in _chunks(sorted(set(grant_ids))):
        query = select(Grant).where(Grant.id.in_(chunk)).order_by(Grant.id).execution_options(populate_existing=True)  # type: ignore[union-attr]
        rows.extend((await session.scalars(query)).all())
    return rows


async def requests_by_ids(session: AsyncSession, *, request_ids: Iterable[int]) -> dict[int, AccessRequest]:
    """The requests with these ids, keyed by id."""
    result: dict[int, AccessRequest] = {}
    for chunk in _chunks(sorted(set(request_ids))):
        rows = (await session.scalars(select(AccessRequest).where(AccessRequest.id.in_(chunk)))).all()  # type: ignore[union-attr]
        result.update({r.id: r for r in rows if r.id is not None})
    return result


async def live_grants_for_orgs(session: AsyncSession, *, org_ids: Sequence[int]) -> list[Grant]:
    """Active and suspended grants of these orgs, soonest re-verification first."""
    if not org_ids:
        return []
    query = (
        select(Grant)
        .where(Grant.org_id.in_(list(org_ids)), Grant.status.in_(LIVE))
        .order_by(  # type: ignore[attr-defined]
            Grant.reverify_due_at, Grant.id
        )
    )
    return list((await session.scalars(query)).all())


async def stale_requests(
    session: AsyncSession, *, created_before: datetime, statuses: Sequence[str]
) -> list[AccessRequest]:
    """Requests in `statuses` created at or before `created_before`, oldest first."""
    query = (
        select(AccessRequest)
        .where(
            AccessRequest.status.in_(list(statuses)),
            AccessRequest.created_at <= created_before,  # type: ignore[attr-defined]
        )
        .order_by(AccessRequest.created_at, AccessRequest.id)
    )
    return list((await session.scalars(query)).all())


async def mark_requests(
    session: AsyncSession, *, request_ids: Sequence[int], where: Sequence[Any], values: dict[str, Any]
) -> list[int]:
    """Conditionally update many requests; returns the ids this call changed."""
    won: list[int] = []
    for chunk in _chunks(sorted(set(request_ids))):
        result = await session.execute(
            update(AccessRequest)
            .where(AccessRequest.id.in_(chunk), *where)  # type: ignore[union-attr]
            .values(**values)
            .returning(AccessRequest.id)
            .execution_options(synchronize_session=False)
        )
        won.extend(result.scalars().all())
    return sorted(won)


async def orgs_verified_before(session: AsyncSession, *, until: date) -> list[Org]:
    """Orgs whose `verified_until` is set and on or before `until`."""
    query = select(Org).where(and_(Org.verified_until.is_not(None), Org.verified_until <= until)).order_by(Org.id)  # type: ignore[union-attr]
    return list((await session.scalars(query)).all())
