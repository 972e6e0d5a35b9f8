"""Queries over grants. Keyword-only, async, never commit.

The job queries fetch or change only the rows that are due, through indexed columns
(`reverify_due_at`, `expires_at`, `status`, `org_id`), so a job run issues a number of SQL
statements that does not grow with the total number of grants. State changes are conditional
`UPDATE … WHERE id IN (…) AND <still due> RETURNING id`: of two racing runners exactly one wins
each row, and only the winner announces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.chunks import chunks
from trustbot.storage.tables import LIVE_GRANTS, Grant, GrantStatus, SuspensionReason, Tier

SECURITY = SuspensionReason.SECURITY_ACTION


async def get_grant(session: AsyncSession, *, grant_id: int, for_update: bool = False) -> Grant | None:
    """One grant by id, re-read fresh; `for_update` locks its row (PostgreSQL)."""
    query = select(Grant).where(col(Grant.id) == grant_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def grant_for_request(session: AsyncSession, *, request_id: int) -> Grant | None:
    """The grant an approved request created, if any."""
    return (await session.scalars(select(Grant).where(col(Grant.request_id) == request_id))).first()


async def list_grants(
    session: AsyncSession,
    *,
    org_ids: Iterable[int] | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 200,
) -> list[Grant]:
    """Grants, newest first, filtered by org ids (None: all orgs) and statuses."""
    query = select(Grant)
    if org_ids is not None:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        query = query.where(col(Grant.org_id).in_(ids))
    if statuses is not None:
        query = query.where(col(Grant.status).in_(list(statuses)))
    return list((await session.scalars(query.order_by(col(Grant.id).desc()).limit(limit))).all())


async def live_grants_for_orgs(session: AsyncSession, *, org_ids: Sequence[int]) -> list[Grant]:
    """Active and suspended grants of these orgs, soonest re-verification first."""
    if not org_ids:
        return []
    query = (
        select(Grant)
        .where(col(Grant.org_id).in_(list(org_ids)), col(Grant.status).in_(LIVE_GRANTS))
        .order_by(col(Grant.reverify_due_at), col(Grant.id))
    )
    return list((await session.scalars(query)).all())


async def grants_with_tier_names(
    session: AsyncSession, *, org_ids: Iterable[int], statuses: Sequence[str]
) -> dict[int, list[tuple[Grant, str]]]:
    """For each org: its grants in `statuses` with their tier's name, soonest expiry first."""
    ids = sorted(set(org_ids))
    result: dict[int, list[tuple[Grant, str]]] = {org_id: [] for org_id in ids}
    if not ids:
        return result
    query = (
        select(Grant, func.coalesce(Tier.name, Grant.tier_id))
        .outerjoin(Tier, col(Tier.id) == col(Grant.tier_id))
        .where(col(Grant.org_id).in_(ids), col(Grant.status).in_(list(statuses)))
        .order_by(col(Grant.expires_at), col(Grant.id))
    )
    for grant, tier_name in (await session.execute(query)).all():
        result[grant.org_id].append((grant, str(tier_name)))
    return result


async def transition_grant(
    session: AsyncSession, *, grant_id: int, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """Conditionally update a grant still in one of `from_statuses`; True when this call won."""
    result = await session.execute(
        update(Grant)
        .where(col(Grant.id) == grant_id, col(Grant.status).in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def has_security_suspension(session: AsyncSession, *, org_id: int) -> bool:
    """True when any of the org's grants is suspended by a security action."""
    query = select(col(Grant.id)).where(
        col(Grant.org_id) == org_id, col(Grant.status) == GrantStatus.SUSPENDED, col(Grant.suspended_reason) == SECURITY
    )
    return await session.scalar(query.limit(1)) is not None


# -- due for a scheduled job --------------------------------------------------------------------


async def _due(session: AsyncSession, *where: ColumnElement[bool], order: Any) -> list[Grant]:
    query = select(Grant).where(*where).order_by(order, col(Grant.id))
    return list((await session.scalars(query)).all())


async def reverify_reminder_candidates(session: AsyncSession, *, now: datetime, until: datetime) -> list[Grant]:
    """Active grants whose re-verification falls in (now, until] and before they expire."""
    due = col(Grant.reverify_due_at)
    return await _due(
        session,
        col(Grant.status) == GrantStatus.ACTIVE,
        due > now,
        due <= until,
        due < col(Grant.expires_at),
        order=due,
    )


def _overdue_for_reverification(now: datetime) -> list[ColumnElement[bool]]:
    return [col(Grant.status) == GrantStatus.ACTIVE, col(Grant.reverify_due_at) <= now, col(Grant.expires_at) > now]


async def overdue_reverifications(session: AsyncSession, *, now: datetime) -> list[Grant]:
    """Active, unexpired grants whose re-verification is due at or before `now`."""
    return await _due(session, *_overdue_for_reverification(now), order=col(Grant.reverify_due_at))


async def expiring_grants(session: AsyncSession, *, now: datetime, until: datetime) -> list[Grant]:
    """Live grants that expire in (now, until]."""
    ends = col(Grant.expires_at)
    return await _due(session, col(Grant.status).in_(LIVE_GRANTS), ends > now, ends <= until, order=ends)


async def expired_grants(session: AsyncSession, *, now: datetime) -> list[Grant]:
    """Live grants whose `expires_at` has passed."""
    return await _due(session, col(Grant.status).in_(LIVE_GRANTS), col(Grant.expires_at) <= now, order=Grant.expires_at)


async def _transition_many(
    session: AsyncSession, grant_ids: Sequence[int], where: Sequence[ColumnElement[bool]], values: dict[str, Any]
) -> list[int]:
    won: list[int] = []
    for chunk in chunks(sorted(set(grant_ids))):
        result = await session.execute(
            update(Grant)
            .where(col(Grant.id).in_(chunk), *where)
            .values(**values)
            .returning(col(Grant.id))
            .execution_options(synchronize_session=False)
        )
        won.extend(i for i in result.scalars().all() if i is not None)
    return sorted(won)


async def suspend_missed_reverifications(
    session: AsyncSession, *, grant_ids: Sequence[int], now: datetime
) -> list[int]:
    """Suspend those grants still overdue for re-verification; returns the ids this call changed."""
    values = {
        "status": GrantStatus.SUSPENDED,
        "suspended_reason": SuspensionReason.MISSED_REVERIFICATION,
        "suspended_at": now,
    }
    return await _transition_many(session, grant_ids, _overdue_for_reverification(now), values)


async def expire_grants(session: AsyncSession, *, grant_ids: Sequence[int], now: datetime, reason: str) -> list[int]:
    """Expire those grants still live and past `expires_at`; returns the ids this call changed."""
    where = [col(Grant.status).in_(LIVE_GRANTS), col(Grant.expires_at) <= now]
    values = {"status": GrantStatus.EXPIRED, "ended_at": now, "ended_by": "trustbot", "end_reason": reason}
    return await _transition_many(session, grant_ids, where, values)


async def suspend_org_grants(
    session: AsyncSession, *, org_ids: Sequence[int], reason: str, at: datetime
) -> list[tuple[int, int]]:
    """Suspend every active grant of these orgs; returns (grant id, org id) for each one changed."""
    if not org_ids:
        return []
    result = await session.execute(
        update(Grant)
        .where(col(Grant.org_id).in_(list(org_ids)), col(Grant.status) == GrantStatus.ACTIVE)
        .values(status=GrantStatus.SUSPENDED, suspended_reason=reason, suspended_at=at)
        .returning(col(Grant.id), col(Grant.org_id))
        .execution_options(synchronize_session=False)
    )
    return sorted((a, b) for a, b in result.all() if a is not None)


async def restore_org_grants(session: AsyncSession, *, org_ids: Sequence[int], reason: str) -> list[tuple[int, int]]:
    """Re-activate grants of these orgs suspended for `reason`; returns (grant id, org id) changed."""
    if not org_ids:
        return []
    result = await session.execute(
        update(Grant)
        .where(
            col(Grant.org_id).in_(list(org_ids)),
            col(Grant.status) == GrantStatus.SUSPENDED,
            col(Grant.suspended_reason) == reason,
        )
        .values(status=GrantStatus.ACTIVE, suspended_reason=None, suspended_at=None)
        .returning(col(Grant.id), col(Grant.org_id))
        .execution_options(synchronize_session=False)
    )
    return sorted((a, b) for a, b in result.all() if a is not None)


async def suspend_for_security(session: AsyncSession, *, org_id: int, at: datetime, note: str) -> list[int]:
    """Put every live grant of the org under a security suspension; return the ids this call changed.

    A grant already suspended for a weaker reason (missed re-verification, lapsed org
    verification) is included: its reason becomes `security_action`, so re-verifying it or a
    directory update can no longer lift what the security team imposed.
    """
    live = (col(Grant.status) == GrantStatus.ACTIVE) | (
        (col(Grant.status) == GrantStatus.SUSPENDED) & (col(Grant.suspended_reason) != SECURITY)
    )
    result = await session.execute(
        update(Grant)
        .where(col(Grant.org_id) == org_id, live)
        .values(status=GrantStatus.SUSPENDED, suspended_reason=SECURITY, suspended_at=at, suspension_note=note)
        .returning(col(Grant.id))
        .execution_options(synchronize_session=False)
    )
    return sorted(i for i in result.scalars().all() if i is not None)
