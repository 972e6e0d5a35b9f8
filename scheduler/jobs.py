"""The scheduled jobs: what each run does, and the registry (`JOBS`) the scheduler and `trustbot jobs` read.

Each job orchestrates: it finds what is due, runs the services over it in batches (one
transaction each, falling back to item by item) and returns a one-line outcome. The rules live
in the services; inside a run, notices and state changes are once-only on their own (notice
keys, conditional updates), so even overlapping slots send nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from trustbot.clock import Clock, as_utc
from trustbot.config import Settings
from trustbot.scheduler.batches import describe, run_batch
from trustbot.scheduler.countdown import Countdown, run_countdown
from trustbot.services import audit_checkpoints
from trustbot.services.access import expiry, sla
from trustbot.services.alerts.escalation import escalate_overdue
from trustbot.services.context import ServiceContext, system_context
from trustbot.services.credits import notices as credit_notices
from trustbot.services.directory import verification
from trustbot.services.identity import digest
from trustbot.services.outbox import flush_outbox
from trustbot.services.reverification import reminders
from trustbot.storage.database import Database

JobFunc = Callable[[Database, ServiceContext], Awaitable[str]]


async def run_reverification(db: Database, ctx: ServiceContext) -> str:
    """Remind admins before `reverify_due_at` and suspend overdue grants."""
    countdown = Countdown(
        name="reverification",
        offsets=ctx.settings.reverify_remind_days,
        upcoming=lambda s, until: reminders.due_soon(s, ctx, until),
        overdue=lambda s: reminders.overdue(s, ctx),
        days_left=lambda grant: reminders.days_to_due(ctx, grant),
        warn=lambda s, grants: reminders.remind_admins(s, ctx, grants),
        end=lambda s, grants: reminders.suspend_overdue(s, ctx, grants),
        labels=("reminders", "suspended"),
    )
    return await run_countdown(db, countdown, now=ctx.now())


async def run_grant_expiry(db: Database, ctx: ServiceContext) -> str:
    """Warn admins of grants expiring soon and expire those whose `expires_at` passed."""
    countdown = Countdown(
        name="grant-expiry",
        offsets=ctx.settings.expiry_warn_days,
        upcoming=lambda s, until: expiry.expiring(s, ctx, until),
        overdue=lambda s: expiry.expired(s, ctx),
        days_left=lambda grant: expiry.days_to_expiry(ctx, grant),
        warn=lambda s, grants: expiry.warn_admins(s, ctx, grants),
        end=lambda s, grants: expiry.expire(s, ctx, grants),
        labels=("warnings", "expired"),
    )
    return await run_countdown(db, countdown, now=ctx.now())


async def run_org_verification(db: Database, ctx: ServiceContext) -> str:
    """Warn reps of orgs whose verification ends soon; suspend grants of orgs whose verification lapsed."""
    countdown = Countdown(
        name="org-verification",
        offsets=ctx.settings.org_verification_warn_days,
        upcoming=lambda s, until: verification.lapsing(s, ctx, until),
        overdue=lambda s: verification.lapsed(s, ctx),
        days_left=lambda org: verification.days_to_lapse(ctx, org),
        warn=lambda s, orgs: verification.warn_reps(s, ctx, orgs),
        end=lambda s, orgs: verification.suspend_lapsed(s, ctx, orgs),
        labels=("warnings", "suspended"),
    )
    return await run_countdown(db, countdown, now=ctx.now())


async def run_request_sla(db: Database, ctx: ServiceContext) -> str:
    """Nudge, escalate and expire requests waiting for a decision."""
    async with db.sessions() as session:
        due = await sla.overdue_requests(session, ctx)
    counts = await run_batch(db, due.expiring, lambda s, b: sla.expire_requests(s, ctx, b), what="request-sla expiry")
    counts += await run_batch(
        db, due.escalating, lambda s, b: sla.escalate_requests(s, ctx, b), what="request-sla escalation"
    )
    counts += await run_batch(db, due.nudging, lambda s, b: sla.nudge_requests(s, ctx, b), what="request-sla nudge")
    return describe(counts, ["nudged", "escalated", "expired", "failed"])


async def run_alert_escalation(db: Database, ctx: ServiceContext) -> str:
    """Escalate unacknowledged high/critical alerts; catch up alert messages held back while Slack rate-limited."""
    async with db.transaction() as session:
        return await escalate_overdue(session, ctx)


async def run_identity_digest(db: Database, ctx: ServiceContext) -> str:
    """Tell each org's admins, once per sync burst, what their identity provider changed."""
    async with db.sessions() as session:
        due = await digest.orgs_due(session, ctx)
    changes = 0
    for org_id in due:  # one transaction per org: one org's failure leaves the others' digests going out
        async with db.transaction() as session:
            changes += await digest.tell_admins(session, ctx, org_id)
            await flush_outbox(session)
    return f"{len(due)} digests, {changes} changes"


async def run_credit_usage(db: Database, ctx: ServiceContext) -> str:
    """Announce usage thresholds and unused-credit expiry, each once."""
    async with db.sessions() as session:
        live = await credit_notices.live_credit_grants(session, ctx)
    counts: Counter[str] = Counter()
    for org_id in sorted({g.org_id for g in live}):  # one org at a time: attribution needs all of an org's grants
        batch = [g for g in live if g.org_id == org_id]
        counts += await run_batch(db, batch, lambda s, b: credit_notices.announce_usage(s, ctx, b), what="credit-usage")
    return describe(counts, ["threshold notices", "expiry warnings"])


async def run_credit_digest(db: Database, ctx: ServiceContext) -> str:
    """Post the weekly credits summary to the reps channel."""
    async with db.transaction() as session:
        return await credit_notices.post_digest(session, ctx)


async def run_audit_checkpoint(db: Database, ctx: ServiceContext) -> str:
    """Record the audit chain's head and post it to TRUSTBOT_AUDIT_CHANNEL; fail when it no longer extends the last."""
    async with db.transaction() as session:
        run = await audit_checkpoints.take_checkpoint(session, ctx)
    if run.diverged:  # raised after the commit, so the audit channel's warning is kept
        raise audit_checkpoints.ChainDiverged(run.outcome)
    return run.outcome


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name, a human schedule, what it runs, and its cron fields."""

    name: str
    schedule: str
    func: JobFunc
    cron: dict[str, Any]
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

    async def run(self, db: Database, clock: Clock, settings: Settings) -> str:
        """Run the job once as Trustbot itself."""
        return await self.func(db, system_context(clock, settings))


_HOURLY, _DAILY, _WEEKLY = timedelta(hours=1), timedelta(days=1), timedelta(days=7)

JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("reverification", "every hour", run_reverification, {"minute": 0}),
        JobSpec("grant-expiry", "every hour", run_grant_expiry, {"minute": 5}),
        JobSpec("request-sla", "every 15 minutes", run_request_sla, {"minute": "*/15"}, timedelta(minutes=15)),
        JobSpec(
            "org-verification",
            "daily at 00:10 (TRUSTBOT_TIMEZONE)",
            run_org_verification,
            {"hour": 0, "minute": 10},
            _DAILY,
            local_time=True,
        ),
        JobSpec("alert-escalation", "every minute", run_alert_escalation, {"minute": "*"}, timedelta(minutes=1)),
        JobSpec("identity-digest", "every minute", run_identity_digest, {"minute": "*"}, timedelta(minutes=1)),
        JobSpec("credit-usage", "every hour", run_credit_usage, {"minute": 15}),
        JobSpec(
            "credit-digest",
            "weekly, Monday 09:00 (TRUSTBOT_TIMEZONE)",
            run_credit_digest,
            {"day_of_week": "mon", "hour": 9, "minute": 0},
            _WEEKLY,
            local_time=True,
        ),
        JobSpec("audit-checkpoint", "every hour", run_audit_checkpoint, {"minute": 55}),
    )
}
