"""Read-only queries tests and drills use to check what happened. The product never calls them, so they
live with the test support, not in `storage/queries`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from trustbot.storage.tables import (
    AccessRequest,
    Alert,
    AlertOccurrence,
    AuditEvent,
    Grant,
    JobRun,
    OrgRole,
    OutboxMessage,
    OutboxOp,
    OutboxStatus,
    Role,
)


async def drop_public_schema(connection: AsyncConnection) -> None:
    """Empty a PostgreSQL database completely (a drill's fresh start), to be migrated again."""
    await connection.execute(text("DROP SCHEMA public CASCADE"))
    await connection.execute(text("CREATE SCHEMA public"))


async def all_outbox_rows(session: AsyncSession) -> list[OutboxMessage]:
    """Every outbox row, in id order."""
    return list((await session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def grant_request_ids(session: AsyncSession) -> list[int | None]:
    """The request of every grant (one entry per grant)."""
    return list((await session.scalars(select(col(Grant.request_id)))).all())


async def request_statuses(session: AsyncSession) -> dict[int, str]:
    """Every request's status by id."""
    rows = (await session.execute(select(col(AccessRequest.id), col(AccessRequest.status)))).all()
    return {int(request_id): str(status) for request_id, status in rows if request_id is not None}


async def audit_events(session: AsyncSession, *, action: str, subject: str | None = None) -> list[AuditEvent]:
    """Audit events of one action (and subject), in id order."""
    query = select(AuditEvent).where(col(AuditEvent.action) == action)
    if subject is not None:
        query = query.where(col(AuditEvent.subject) == subject)
    return list((await session.scalars(query.order_by(col(AuditEvent.id)))).all())


async def count_alert_occurrences(session: AsyncSession) -> int:
    """Alert items stored (one occurrence each)."""
    return int(await session.scalar(select(func.count()).select_from(AlertOccurrence)) or 0)


async def job_runs(session: AsyncSession, *, job: str) -> list[JobRun]:
    """Every recorded run (slot) of one job."""
    return list((await session.scalars(select(JobRun).where(col(JobRun.job) == job))).all())


async def backlog(session: AsyncSession) -> tuple[int, int]:
    """(pending outbox rows, alerts whose message is held back by the circuit breaker)."""
    pending = col(OutboxMessage.status) == OutboxStatus.PENDING
    rows = await session.scalar(select(func.count()).select_from(OutboxMessage).where(pending))
    held = await session.scalar(select(func.count()).select_from(Alert).where(col(Alert.render_pending).is_(True)))
    return int(rows or 0), int(held or 0)


async def count_rows(session: AsyncSession, *, table: Any) -> int:
    """Rows in one table."""
    return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def people_of(session: AsyncSession, *, org_id: int, role: Role) -> list[str]:
    """User ids holding `role` in the org, in directory order."""
    query = (
        select(col(OrgRole.user_id))
        .where(col(OrgRole.org_id) == org_id, col(OrgRole.role) == role.value)
        .order_by(col(OrgRole.position), col(OrgRole.id))
    )
    return list((await session.scalars(query)).all())


async def webhook_rows(session: AsyncSession) -> list[OutboxMessage]:
    """Every grant change event row, in outbox order (drills compare them with what the gateway got)."""
    query = select(OutboxMessage).where(col(OutboxMessage.op) == OutboxOp.WEBHOOK).order_by(col(OutboxMessage.id))
    return list((await session.scalars(query)).all())


async def all_grant_ids(session: AsyncSession) -> list[int]:
    """Every grant id, ascending."""
    return [i for i in (await session.scalars(select(col(Grant.id)).order_by(col(Grant.id)))).all() if i is not None]
