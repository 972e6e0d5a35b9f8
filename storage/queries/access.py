"""Queries over access requests, approvals and grants. Keyword-only, async, never commit.

State changes go through `transition_request` / `transition_grant`: one conditional
`UPDATE … WHERE id = :id AND status IN (…)`, so of two racing clicks exactly one wins and the
other learns it lost from the row count — double clicks are harmless on every database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import AccessRequest, Grant, GrantStatus, RequestApproval, RequestStatus

OPEN_REQUEST_STATUSES: tuple[str, ...] = (RequestStatus.PENDING, RequestStatus.INFO_REQUESTED)
LIVE_GRANT_STATUSES: tuple[str, ...] = (GrantStatus.ACTIVE, GrantStatus.SUSPENDED)


async def get_request(session: AsyncSession, *, request_id: int, for_update: bool = False) -> AccessRequest | None:
    """One request by id; `for_update` locks its row (PostgreSQL) and re-reads it fresh."""
    query = select(AccessRequest).where(AccessRequest.id == request_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def get_grant(session: AsyncSession, *, grant_id: int, for_update: bool = False) -> Grant | None:
    """One grant by id; `for_update` locks its row (PostgreSQL) and re-reads it fresh."""
    query = select(Grant).where(Grant.id == grant_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def get_grant_for_request(session: AsyncSession, *, request_id: int) -> Grant | None:
    """The grant an approved request created, if any."""
    return (await session.scalars(select(Grant).where(Grant.request_id == request_id))).first()


async def list_requests(
    session: AsyncSession,
    *,
    org_ids: Iterable[int] | None = None,
    statuses: Sequence[str] | None = None,
    requester: str | None = None,
    limit: int = 100,
) -> list[AccessRequest]:
    """Requests, newest first, filtered by org ids (None: all orgs), statuses and requester."""
    query = select(AccessRequest)
    if org_ids is not None:
        ids = list(org_ids)
        if not ids:
            return []
        query = query.where(AccessRequest.org_id.in_(ids))
    if statuses is not None:
        query = query.where(AccessRequest.status.in_(list(statuses)))
    if requester is not None:
        query = query.where(AccessRequest.requester == requester)
    return list((await session.scalars(query.order_by(AccessRequest.id.desc()).limit(limit))).all())


async def open_requests_for_orgs(
    session: AsyncSession, *, org_ids: Iterable[int] | None, limit: int = 100
) -> list[AccessRequest]:
    """Pending and info-requested requests of these orgs (a rep's queue), newest first."""
    return await list_requests(session, org_ids=org_ids, statuses=OPEN_REQUEST_STATUSES, limit=limit)


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
        ids = list(org_ids)
        if not ids:
            return []
        query = query.where(Grant.org_id.in_(ids))
    if statuses is not None:
        query = query.where(Grant.status.in_(list(statuses)))
    return list((await session.scalars(query.order_by(Grant.id.desc()).limit(limit))).all())


async def grants_for_org(session: AsyncSession, *, org_id: int, statuses: Sequence[str] | None = None) -> list[Grant]:
    """One org's grants (optionally only some statuses), newest first."""
    return await list_grants(session, org_ids=[org_id], statuses=statuses)


async def list_approvals(session: AsyncSession, *, request_id: int) -> list[RequestApproval]:
    """Approvals recorded for a request, oldest first."""
    query = select(RequestApproval).where(RequestApproval.request_id == request_id).order_by(RequestApproval.id)
    return list((await session.scalars(query)).all())


async def count_approvals(session: AsyncSession, *, request_id: int) -> int:
    """How many different people approved the request so far."""
    return int(await session.scalar(select(func.count()).where(RequestApproval.request_id == request_id)) or 0)


async def add_approval(session: AsyncSession, *, request_id: int, approver: str, at: datetime) -> bool:
    """Record one approver's yes; False when this approver already approved (unique pair)."""
    try:
        async with session.begin_nested():
            session.add(RequestApproval(request_id=request_id, approver=approver, at=at))
    except IntegrityError:
        return False
    return True


async def transition_request(
    session: AsyncSession, *, request_id: int, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """Conditionally update a request still in one of `from_statuses`; True when this call won."""
    result = await session.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id, AccessRequest.status.in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def transition_grant(
    session: AsyncSession, *, grant_id: int, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """Conditionally update a grant still in one of `from_statuses`; True when this call won."""
    result = await session.execute(
        update(Grant)
        .where(Grant.id == grant_id, Grant.status.in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def has_security_suspension(session: AsyncSession, *, org_id: int) -> bool:
    """True when any of the org's grants is suspended by a security action."""
    found = await session.scalar(
        select(Grant.id)
        .where(
            Grant.org_id == org_id, Grant.status == GrantStatus.SUSPENDED, Grant.suspended_reason == "security_action"
        )
        .limit(1)
    )
    return found is not None
