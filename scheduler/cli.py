"""`trustbot jobs list` and `trustbot jobs run NAME [--now RFC3339]`."""

from __future__ import annotations

import argparse
from datetime import datetime

from trustbot.cli.errors import CliError
from trustbot.clock import FixedClock, SystemClock, parse_rfc3339
from trustbot.config import Settings


def add_jobs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `jobs list` and `jobs run` on the top-level subparsers."""
    summary = "scheduled jobs"
    jobs = commands.add_parser("jobs", help=summary, description="Scheduled jobs.").add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION"
    )
    summary = "each job's schedule, last run and outcome"
    jobs.add_parser("list", help=summary, description=summary[0].upper() + summary[1:])
    summary = "run one job as if it were --now, deliver what it produced, exit"
    run = jobs.add_parser("run", help=summary, description=summary[0].upper() + summary[1:])
    run.add_argument("name", help="job name (see `trustbot jobs list`)")
    run.add_argument("--now", help="RFC 3339 time to run as (default: now); it is also the slot claimed")


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else "—"


async def run_jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    """Carry out `trustbot jobs …`; bad input is one line on stderr and exit code 2."""
    from trustbot.scheduler.jobs import JOBS

    now = None
    if args.jobs_command == "run":
        if args.name not in JOBS:
            raise CliError(f"unknown job {args.name!r}; known jobs: {', '.join(JOBS)}")
        try:
            now = parse_rfc3339(args.now) if args.now else None
        except (ValueError, OverflowError):
            raise CliError(f"--now {args.now!r} is not an RFC 3339 time (e.g. 2026-11-02T09:00:00Z)") from None
        if now is not None and not 1971 <= now.year <= 9000:
            # Jobs look years ahead of --now (warnings, grant lengths): far ends would overflow the calendar.
            raise CliError(f"--now {args.now!r} is outside the years 1971 to 9000 that jobs can run as")
    from trustbot.storage.migrate import upgrade

    await upgrade(settings.database_url)
    if args.jobs_command == "list":
        return await _list(settings)
    return await _run(settings, args.name, now)


async def _list(settings: Settings) -> int:
    from trustbot.scheduler.jobs import JOBS
    from trustbot.scheduler.runs import last_runs
    from trustbot.storage.database import Database

    db = Database(settings.database_url)
    try:
        runs = await last_runs(db)
    finally:
        await db.dispose()
    rows = [("JOB", "SCHEDULE", "LAST RUN", "STATUS", "OUTCOME")]
    for name, spec in JOBS.items():
        run = runs.get(name)
        rows.append(
            (
                name,
                spec.schedule,
                _iso(run.slot_at) if run else "never",
                run.status if run else "—",
                (run.outcome or "") if run else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)), row[4]]).rstrip())
    return 0


async def _run(settings: Settings, name: str, now: datetime | None) -> int:
    from trustbot.app import build_runtime
    from trustbot.scheduler.runs import run_job
    from trustbot.slack.preflight import identify

    settings.require("SLACK_BOT_TOKEN")
    clock = FixedClock(now) if now is not None else SystemClock()
    rt = build_runtime(settings, clock=clock)
    try:
        # What the job produces is delivered before exiting: without Slack, say so before changing anything.
        await identify(rt.client)
        # The slot is the moment asked for, so a second run for the same moment finds it taken.
        result = await run_job(rt.db, rt.clock, settings, name, slot_at=clock.now(), metrics=rt.metrics)
        delivered = await rt.delivery.drain()
    finally:
        await rt.delivery.stop()  # closes the webhook sender's connections
        await rt.db.dispose()
    if result.status == "skipped":
        print(f"{name} at {_iso(result.slot_at)}: slot {result.outcome}; nothing sent again")
        return 0
    print(f"{name} at {_iso(result.slot_at)}: {result.outcome} ({delivered} Slack messages delivered)")
    return 0 if result.status == "finished" else 1
