"""The job registry and slot claiming (DESIGN §4.7, §6).

Every replica runs the scheduler. A run first claims its slot — the job name and the scheduled
moment — by inserting a `job_run` row whose (job, slot_at) pair is unique, so a slot runs once
across replicas. A run that crashed (still `running` after its lease ran out) or failed may be
claimed again; a finished one never. Inside a run, notices and state changes are once-only on
their own (notice keys, conditional updates), so even overlapping slots send nothing twice.

To add a job, add one entry to `JOBS`, e.g.::

    JOBS["alert-escalation"] = JobSpec("alert-escalation", "every minute", run_alert_escalation,
                                       cron={"minute": "*"}, period=timedelta(minutes=1))
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.clock import Clock, as_utc
from bot.config import Settings
from bot.services.alert_actions import escalate_overdue_alerts
from bot.services.credits import run_credit_digest, run_credit_usage
from bot.services.grant_lifecycle import run_grant_expiry
from bot.services.org_verification import run_org_verification
from bot.services.request_sla import run_request_sla
from bot.services.reverification import run_reverification
from storage.database import Database
from storage.tables import JobRun

log = logging.getLogger(__name__)

JobFunc = Callable[[Database, Clock, Settings], Awaitable[str]]
RUNNING, FINISHED, FAILED = "running", "finished", "failed"
# Longer than any run should take; a run still `running` after this is presumed crashed.
LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name, a human schedule, the service it calls, and its cron fields."""

    name: str
    schedule: str
    func: JobFunc
    cron: dict[str, Any] = field(default_factory=dict)
    period: timedelta = timedelta(hours=1)
    local_time: bool = False  # cron fields read in TRUSTBOT_TIMEZONE instead of UTC

    def trigger(self, settings: Settings) -> CronTrigger:
        """The APScheduler trigger (UTC, or the display zone for `local_time` jobs)."""
        return CronTrigger(timezone=settings.tz if self.local_time else UTC, **self.cron)

    def slot_for(self, now: datetime, settings: Settings) -> datetime:
        """The latest scheduled moment at or before `now`: what a fire at `now` runs as."""
        trigger = self.trigger(settings)
        fire = trigger.get_next_fire_time(None, now - 2 * self.period)
        slot = fire
        while fire is not None and fire <= now:
            slot = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return as_utc(slot if slot is not None and slot <= now else now)


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("reverification", "every hour", run_reverification, cron={"minute": 0}),
        JobSpec("grant-expiry", "every hour", run_grant_expiry, cron={"minute": 5}),
        JobSpec(
            "request-sla", "every 15 minutes", run_request_sla, cron={"minute": "*/15"}, period=timedelta(minutes=15)
        ),
        JobSpec(
            "org-verification",
            "daily at 00:10 (TRUSTBOT_TIMEZONE)",
            run_org_verification,
            cron={"hour": 0, "minute": 10},
            period=timedelta(days=1),
            local_time=True,
        ),
    )
}
JOBS["alert-escalation"] = JobSpec(
    "alert-escalation", "every minute", escalate_overdue_alerts, cron={"minute": "*"}, period=timedelta(minutes=1)
)
JOBS["credit-usage"] = JobSpec("credit-usage", "every hour", run_credit_usage, cron={"minute": 15})
JOBS["credit-digest"] = JobSpec(
    "credit-digest",
    "weekly, Monday 09:00 (TRUSTBOT_TIMEZONE)",
    run_credit_digest,
    cron={"day_of_week": "mon", "hour": 9, "minute": 0},
    period=timedelta(days=7),
    local_time=True,
)


@dataclass(frozen=True)
class RunResult:
    """What one attempt at a slot did: `finished`, `failed`, or `skipped` (another run has it)."""

    job: str
    slot_at: datetime
    status: str
    outcome: str


def runner_id() -> str:
    """Who claims: host, process and a random suffix, so two runners in one process differ too."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _wall() -> datetime:
    # Leases and run times are infrastructure on wall-clock time, even when the domain clock moves.
    return datetime.now(UTC)


async def claim_slot(db: Database, *, job: str, slot_at: datetime, owner: str) -> JobRun | None:
    """Claim (job, slot_at) for `owner`; None when another run finished it or holds a live lease."""
    now = _wall()
    values = {
        "job": job,
        "slot_at": slot_at,
        "status": RUNNING,
        "claimed_by": owner,
        "lease_until": now + LEASE,
        "started_at": now,
    }
    async with db.transaction() as session:
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        statement = (
            insert(JobRun)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["job", "slot_at"])
            .returning(JobRun.id)
        )
        new_id = (await session.execute(statement)).scalar()
        if new_id is None:
            # Taken: re-claim only a crashed (lease expired) or failed run, conditionally so one runner wins.
            result = await session.execute(
                update(JobRun)
                .where(
                    JobRun.job == job,
                    JobRun.slot_at == slot_at,
                    ((JobRun.status == RUNNING) & (JobRun.lease_until < now)) | (JobRun.status == FAILED),
                )
                .values(
                    claimed_by=owner,
                    status=RUNNING,
                    lease_until=now + LEASE,
                    started_at=now,
                    finished_at=None,
                    outcome=None,
                )
                .returning(JobRun.id)
            )
            new_id = result.scalar()
        if new_id is None:
            return None
        return await session.get(JobRun, new_id)


async def _finish(db: Database, run: JobRun, owner: str, status: str, outcome: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.id == run.id, JobRun.claimed_by == owner)
            .values(status=status, outcome=outcome[:500], finished_at=_wall())
        )


async def get_run(db: Database, *, job: str, slot_at: datetime) -> JobRun | None:
    """The run of one slot, if any."""
    async with db.sessions() as session:
        return (await session.scalars(select(JobRun).where(JobRun.job == job, JobRun.slot_at == slot_at))).first()


async def run_job(
    db: Database,
    clock: Clock,
    settings: Settings,
    name: str,
    *,
    slot_at: datetime | None = None,
    owner: str | None = None,
) -> RunResult:
    """Claim the slot (default: the latest scheduled moment by `clock`) and run the job once in it."""
    spec = JOBS[name]
    slot = as_utc(slot_at) if slot_at is not None else spec.slot_for(clock.now(), settings)
    owner = owner or runner_id()
    run = await claim_slot(db, job=name, slot_at=slot, owner=owner)
    if run is None:
        existing = await get_run(db, job=name, slot_at=slot)
        what = (
            f"already {existing.status}" + (f": {existing.outcome}" if existing and existing.outcome else "")
            if existing
            else "claimed"
        )
        return RunResult(job=name, slot_at=slot, status="skipped", outcome=what)
    try:
        outcome = await spec.func(db, clock, settings)
    except Exception as exc:
        log.exception("job %s (slot %s) failed", name, slot.isoformat())
        outcome = f"failed: {type(exc).__name__}: {exc}"
        await _finish(db, run, owner, FAILED, outcome)
        return RunResult(job=name, slot_at=slot, status=FAILED, outcome=outcome)
    await _finish(db, run, owner, FINISHED, outcome)
    log.info("job %s (slot %s): %s", name, slot.isoformat(), outcome)
    return RunResult(job=name, slot_at=slot, status=FINISHED, outcome=outcome)


async def last_runs(db: Database) -> dict[str, JobRun]:
    """The most recent run of each job, by slot."""
    async with db.sessions() as session:
        latest = select(JobRun.job, func.max(JobRun.slot_at).label("slot_at")).group_by(JobRun.job).subquery()
        rows = (
            await session.scalars(
                select(JobRun).join(latest, (JobRun.job == latest.c.job) & (JobRun.slot_at == latest.c.slot_at))
            )
        ).all()
    return {row.job: row for row in rows}
