"""Running a job in its slot, once across replicas.

Every replica runs the scheduler. A run first claims its slot — the job name and the scheduled
moment — in the database (`trustbot.storage.queries.jobs`), so a slot runs once across replicas, and a
run that crashed is taken over after its lease.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trustbot.clock import Clock, as_utc
from trustbot.config import Settings
from trustbot.metrics import Metrics
from trustbot.scheduler.jobs import JOBS
from trustbot.storage.database import Database
from trustbot.storage.queries import jobs as q
from trustbot.storage.queries.jobs import FAILED, FINISHED, RUNNING
from trustbot.storage.tables import JobRun

__all__ = ["FAILED", "FINISHED", "LEASE", "RUNNING", "RunResult", "claim_slot", "get_run", "last_runs", "run_job"]

log = logging.getLogger(__name__)
# Longer than any run should take; a run still `running` after this is presumed crashed.
LEASE = timedelta(minutes=10)


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
    async with db.transaction() as session:
        return await q.claim_slot(session, job=job, slot_at=slot_at, owner=owner, now=now, lease_until=now + LEASE)


async def get_run(db: Database, *, job: str, slot_at: datetime) -> JobRun | None:
    """The run of one slot, if any."""
    async with db.sessions() as session:
        return await q.get_run(session, job=job, slot_at=slot_at)


async def last_runs(db: Database) -> dict[str, JobRun]:
    """The most recent run of each job, by slot."""
    async with db.sessions() as session:
        return await q.last_runs(session)


async def _finish(db: Database, run: JobRun, owner: str, status: str, outcome: str) -> None:
    async with db.transaction() as session:
        await q.finish_run(session, run_id=run.pk, owner=owner, status=status, outcome=outcome, at=_wall())


async def run_job(
    db: Database,
    clock: Clock,
    settings: Settings,
    name: str,
    *,
    slot_at: datetime | None = None,
    owner: str | None = None,
    metrics: Metrics | None = None,
) -> RunResult:
    """Claim the slot (default: the latest scheduled moment by `clock`) and run the job once in it."""
    result = await _run_in_slot(db, clock, settings, name, slot_at=slot_at, owner=owner)
    if metrics is not None:
        metrics.job_runs.labels(name, result.status).inc()
    return result


async def _run_in_slot(
    db: Database, clock: Clock, settings: Settings, name: str, *, slot_at: datetime | None, owner: str | None
) -> RunResult:
    spec = JOBS[name]
    slot = as_utc(slot_at) if slot_at is not None else spec.slot_for(clock.now(), settings)
    owner = owner or runner_id()
    run = await claim_slot(db, job=name, slot_at=slot, owner=owner)
    if run is None:
        existing = await get_run(db, job=name, slot_at=slot)
        what = "claimed"
        if existing is not None:
            what = f"already {existing.status}" + (f": {existing.outcome}" if existing.outcome else "")
        return RunResult(job=name, slot_at=slot, status="skipped", outcome=what)
    try:
        outcome = await spec.run(db, clock, settings)
    except Exception as exc:
        log.exception("job %s (slot %s) failed", name, slot.isoformat())
        outcome = f"failed: {type(exc).__name__}: {exc}"
        await _finish(db, run, owner, FAILED, outcome)
        return RunResult(job=name, slot_at=slot, status=FAILED, outcome=outcome)
    await _finish(db, run, owner, FINISHED, outcome)
    log.info("job %s (slot %s): %s", name, slot.isoformat(), outcome)
    return RunResult(job=name, slot_at=slot, status=FINISHED, outcome=outcome)
