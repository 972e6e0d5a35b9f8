"""Queries over access requests and their approvals. Keyword-only, async, never commit.

State changes are conditional: `UPDATE … WHERE id = :id AND status IN (…)`, so of two racing
clicks (or a click and a job) exactly one wins and the other learns it lost from the row count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.chunks import chunks
from trustbot.storage.tables import OPEN_REQUESTS, AccessRequest, RequestApproval, RequestStatus


async def get_request(session: AsyncSession, *, request_id: int, for_update: bool = False) -> AccessRequest | None:
    """One request by id, re-read fresh; `for_update` locks its row (PostgreSQL)."""
    query = select(AccessRequest).where(col(AccessRequest.id) == request_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def request_by_submission(session: AsyncSession, *, key: str) -> AccessRequest | None:
    """The request a modal submission already created, if any."""
    query = select(AccessRequest).where(col(AccessRequest.submission_key) == key)
    return (await session.scalars(query)).first()


async def insert_request(session: AsyncSession, request: AccessRequest) -> bool:
    """Store a new request; False when its submission key is taken (the same view was submitted meanwhile)."""
    try:
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def requests_by_ids(session: AsyncSession, *, request_ids: Iterable[int]) -> dict[int, AccessRequest]:
    """The requests with these ids, keyed by id."""
    result: dict[int, AccessRequest] = {}
    for chunk in chunks(sorted(set(request_ids))):
        rows = (await session.scalars(select(AccessRequest).where(col(AccessRequest.id).in_(chunk)))).all()
        result.update({r.pk: r for r in rows})
    return result


async def open_requests(
    session: AsyncSession, *, org_ids: Iterable[int] | None, limit: int = 100
) -> list[AccessRequest]:
    """Pending and info-requested requests of these orgs (None: every org), newest first."""
    query = select(AccessRequest).where(col(AccessRequest.status).in_(OPEN_REQUESTS))
    if org_ids is not None:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        query = query.where(col(AccessRequest.org_id).in_(ids))
    return list((await session.scalars(query.order_by(col(AccessRequest.id).desc()).limit(limit))).all())


def of_workspace(team: str | None) -> ColumnElement[bool]:
    """Requests whose requester (and so whose named members) are people of workspace `team` (None: home)."""
    column = col(AccessRequest.requester_team)
    return column.is_(None) if team is None else column == team


async def open_requests_naming(session: AsyncSession, *, slack_id: str, team: str | None) -> list[AccessRequest]:
    """Pending and info-requested requests naming this person of workspace `team` (None: home) as a member,
    oldest first, row-locked."""
    # The JSON list's text holds the id in quotes on both dialects; the exact check below drops look-alikes.
    needle = json.dumps(slack_id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(AccessRequest)
        .where(
            col(AccessRequest.status).in_(OPEN_REQUESTS),
            cast(col(AccessRequest.members), String).like(f"%{needle}%", escape="\\"),
            of_workspace(team),
        )
        .order_by(col(AccessRequest.id))
        .with_for_update()
    )
    return [r for r in (await session.scalars(query)).all() if slack_id in r.members]


async def count_open_requests(session: AsyncSession, *, org_ids: Iterable[int]) -> dict[int, int]:
    """How many pending and info-requested requests each of these orgs has (orgs with none absent)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    query = (
        select(col(AccessRequest.org_id), func.count())
        .where(col(AccessRequest.status).in_(OPEN_REQUESTS), col(AccessRequest.org_id).in_(ids))
        .group_by(col(AccessRequest.org_id))
    )
    return {org_id: n for org_id, n in (await session.execute(query)).tuples()}


async def stale_requests(session: AsyncSession, *, created_before: datetime) -> list[AccessRequest]:
    """Open requests created at or before `created_before`, oldest first."""
    query = (
        select(AccessRequest)
        .where(col(AccessRequest.status).in_(OPEN_REQUESTS), col(AccessRequest.created_at) <= created_before)
        .order_by(col(AccessRequest.created_at), col(AccessRequest.id))
    )
    return list((await session.scalars(query)).all())


async def list_approvals(session: AsyncSession, *, request_id: int) -> list[RequestApproval]:
    """Approvals recorded for a request, oldest first."""
    query = (
        select(RequestApproval).where(col(RequestApproval.request_id) == request_id).order_by(col(RequestApproval.id))
    )
    return list((await session.scalars(query)).all())


async def approvals_by_request(session: AsyncSession, *, request_ids: Iterable[int]) -> dict[int, list[str]]:
    """Approvers of each request, oldest first (requests nobody approved map to an empty list)."""
    ids = sorted(set(request_ids))
    result: dict[int, list[str]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        query = (
            select(col(RequestApproval.request_id), col(RequestApproval.approver))
            .where(col(RequestApproval.request_id).in_(chunk))
            .order_by(col(RequestApproval.id))
        )
        for request_id, approver in (await session.execute(query)).all():
            result[int(request_id)].append(str(approver))
    return result


async def count_approvals(session: AsyncSession, *, request_id: int) -> int:
    """How many different people approved the request so far."""
    query = select(func.count()).where(col(RequestApproval.request_id) == request_id)
    return int(await session.scalar(query) or 0)


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
        .where(col(AccessRequest.id) == request_id, col(AccessRequest.status).in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def _mark(
    session: AsyncSession, request_ids: Sequence[int], where: Sequence[ColumnElement[bool]], values: dict[str, Any]
) -> list[int]:
    won: list[int] = []
    for chunk in chunks(sorted(set(request_ids))):
        result = await session.execute(
            update(AccessRequest)
            .where(col(AccessRequest.id).in_(chunk), *where)
            .values(**values)
            .returning(col(AccessRequest.id))
            .execution_options(synchronize_session=False)
        )
        won.extend(i for i in result.scalars().all() if i is not None)
    return sorted(won)


async def expire_requests(
    session: AsyncSession, *, request_ids: Sequence[int], created_before: datetime, at: datetime
) -> list[int]:
    """Expire requests still open and old enough; returns the ids this call changed."""
    where = [col(AccessRequest.status).in_(OPEN_REQUESTS), col(AccessRequest.created_at) <= created_before]
    values = {"status": RequestStatus.EXPIRED, "decided_at": at, "updated_at": at}
    return await _mark(session, request_ids, where, values)


async def mark_escalated(session: AsyncSession, *, request_ids: Sequence[int], at: datetime) -> list[int]:
    """Mark pending requests not yet escalated as escalated; returns the ids this call changed."""
    where = [col(AccessRequest.status) == RequestStatus.PENDING, col(AccessRequest.escalated_at).is_(None)]
    return await _mark(session, request_ids, where, {"escalated_at": at})


async def mark_nudged(
    session: AsyncSession, *, request_ids: Sequence[int], at: datetime, pending_only: bool = True
) -> list[int]:
    """Mark requests not yet nudged as nudged (only pending ones unless told); returns the ids changed."""
    where: list[ColumnElement[bool]] = [col(AccessRequest.nudged_at).is_(None)]
    if pending_only:
        where.append(col(AccessRequest.status) == RequestStatus.PENDING)
    return await _mark(session, request_ids, where, {"nudged_at": at})
