"""Scheduled job slots. Keyword-only, async, never commit.

A run claims its slot — the job name and the scheduled moment — by inserting a `job_run` row
whose (job, slot_at) pair is unique, so a slot runs once across replicas. A run that crashed
(still `running` after its lease ran out) or failed may be claimed again; a finished one never.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.dialect import upsert
from trustbot.storage.tables import JobRun

RUNNING, FINISHED, FAILED = "running", "finished", "failed"


async def claim_slot(
    session: AsyncSession, *, job: str, slot_at: datetime, owner: str, now: datetime, lease_until: datetime
) -> JobRun | None:
    """Claim (job, slot_at) for `owner`; None when another run finished it or holds a live lease."""
    values = {
        "job": job,
        "slot_at": slot_at,
        "status": RUNNING,
        "claimed_by": owner,
        "lease_until": lease_until,
        "started_at": now,
    }
    statement = (
        upsert(session, JobRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["job", "slot_at"])
        .returning(col(JobRun.id))
    )
    new_id = (await session.execute(statement)).scalar()
    if new_id is None:
        # Taken: re-claim only a crashed (lease expired) or failed run, conditionally so one runner wins.
        crashed = (col(JobRun.status) == RUNNING) & (col(JobRun.lease_until) < now)
        result = await session.execute(
            update(JobRun)
            .where(col(JobRun.job) == job, col(JobRun.slot_at) == slot_at, crashed | (col(JobRun.status) == FAILED))
            .values(
                claimed_by=owner,
                status=RUNNING,
                lease_until=lease_until,
                started_at=now,
                finished_at=None,
                outcome=None,
            )
            .returning(col(JobRun.id))
        )
        new_id = result.scalar()
    return None if new_id is None else await session.get(JobRun, new_id)


async def finish_run(
    session: AsyncSession, *, run_id: int, owner: str, status: str, outcome: str, at: datetime
) -> None:
    """Record how `owner`'s run of a slot ended."""
    await session.execute(
        update(JobRun)
        .where(col(JobRun.id) == run_id, col(JobRun.claimed_by) == owner)
        .values(status=status, outcome=outcome[:500], finished_at=at)
    )


async def get_run(session: AsyncSession, *, job: str, slot_at: datetime) -> JobRun | None:
    """The run of one slot, if any."""
    query = select(JobRun).where(col(JobRun.job) == job, col(JobRun.slot_at) == slot_at)
    return (await session.scalars(query)).first()


async def last_runs(session: AsyncSession) -> dict[str, JobRun]:
    """The most recent run of each job, by slot."""
    latest = select(col(JobRun.job), func.max(JobRun.slot_at).label("slot_at")).group_by(col(JobRun.job)).subquery()
    query = select(JobRun).join(latest, (col(JobRun.job) == latest.c.job) & (col(JobRun.slot_at) == latest.c.slot_at))
    return {row.job: row for row in (await session.scalars(query)).all()}
