"""Build and start the `AsyncIOScheduler` (APScheduler 3.x) with every registered job, once each."""

from __future__ import annotations

import logging
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from trustbot.runtime import Runtime
from trustbot.scheduler.jobs import JOBS
from trustbot.scheduler.runs import run_job

log = logging.getLogger(__name__)


async def fire(rt: Runtime, name: str) -> None:
    """What the scheduler calls: run the job in the slot the runtime's clock says it is."""
    with rt.running_jobs.tracking():  # so stopping ends the run before the database is closed under it
        result = await run_job(rt.db, rt.clock, rt.settings, name, metrics=rt.metrics)
    if result.status == "skipped":
        log.debug("job %s slot %s skipped: %s", name, result.slot_at.isoformat(), result.outcome)


def build_scheduler(rt: Runtime) -> AsyncIOScheduler:
    """The scheduler with one entry per job: explicit id, coalesced, never overlapping itself."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for spec in JOBS.values():
        scheduler.add_job(
            fire,
            trigger=spec.trigger(rt.settings),
            args=[rt, spec.name],
            id=spec.name,
            name=spec.name,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            # A fire delayed by at most half a period still runs (as its own slot); later ones are skipped.
            misfire_grace_time=max(30, int(spec.period.total_seconds() // 2)),
        )
    return scheduler


async def start_scheduler(rt: Runtime) -> AsyncIOScheduler:
    """Start the scheduler on the running event loop; the server calls `.shutdown(wait=False)` at stop."""
    scheduler = build_scheduler(rt)
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(sorted(JOBS)))
    return scheduler
