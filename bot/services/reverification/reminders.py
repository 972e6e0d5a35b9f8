"""Re-verification reminders and suspension of overdue grants: the steps of the `reverification` job.

Reminder offsets count calendar days in the display time zone: offset 0 is "due today" and
arrives at the first run of that day, before the grant is suspended at `reverify_due_at`.
Each reminder is sent once per grant, due date and offset (`reverify:{grant}:{due date}:{offset}`),
so re-verifying — which moves the due date — starts a fresh cycle. When a run finds several
offsets due at once (a grant created close to its due date, a run after downtime), it sends only
the most urgent one and retires the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import reverification as msg
from trustbot.services import outbox
from trustbot.services.access.lifecycle import audit_grants, tell_request_thread
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.installs.routing import workspace_of_org_id
from trustbot.services.notices import claim_countdown, days_until
from trustbot.storage.queries import grants as gq
from trustbot.storage.tables import Grant, SuspensionReason

MISSED = SuspensionReason.MISSED_REVERIFICATION


def reminder_key(grant: Grant, offset: int, tz: tzinfo) -> str:
    """Once-only key of one reminder; the due date in it makes re-verification reset the cycle."""
    return f"reverify:{grant.pk}:{grant.reverify_due_at.astimezone(tz).date().isoformat()}:{offset}"


def days_to_due(ctx: ServiceContext, grant: Grant) -> int:
    """Calendar days until the grant's re-verification is due, in the display zone."""
    return days_until(grant.reverify_due_at, ctx.now(), ctx.tz)


async def due_soon(session: AsyncSession, ctx: ServiceContext, until: datetime) -> list[Grant]:
    """Active grants whose re-verification falls between now and `until`."""
    return await gq.reverify_reminder_candidates(session, now=ctx.now(), until=until)


async def overdue(session: AsyncSession, ctx: ServiceContext) -> list[Grant]:
    """Active, unexpired grants whose re-verification is past due."""
    return await gq.overdue_reverifications(session, now=ctx.now())


async def remind_admins(session: AsyncSession, ctx: ServiceContext, grants: Sequence[Grant]) -> Counter[str]:
    """DM the admins (the rep when there are none) the most urgent reminder each grant has not had yet."""
    offsets = sorted({d for d in ctx.settings.reverify_remind_days if d >= 0})
    todo = await claim_countdown(
        session,
        ctx.clock,
        grants,
        offsets=offsets,
        days_left=lambda g: days_to_due(ctx, g),
        key=lambda g, d: reminder_key(g, d, ctx.tz),
    )
    snap = await load_snapshot(session, org_ids=[g.org_id for g in todo])
    counts: Counter[str] = Counter()
    for grant in todo:
        rendered = msg.build_reminder_dm(snap.info(grant), days_to_due(ctx, grant), ctx.tz)
        admins = snap.admins(grant.org_id)
        if admins:  # the org's people, in its workspace; else the rep, at home
            workspace = await workspace_of_org_id(session, grant.org_id)
            counts["reminders"] += outbox.dm_all(session, admins, rendered, workspace=workspace)
        else:
            counts["reminders"] += outbox.dm_all(session, [snap.rep(grant.org_id)], rendered)
    return counts


async def suspend_overdue(session: AsyncSession, ctx: ServiceContext, grants: Sequence[Grant]) -> Counter[str]:
    """Suspend grants still overdue; tell their admins and, in the request's thread, the rep."""
    now = ctx.now()
    won = await gq.suspend_missed_reverifications(session, grant_ids=[g.pk for g in grants], now=now)
    changed = [g for g in grants if g.pk in set(won)]
    snap = await load_snapshot(session, org_ids=[g.org_id for g in changed])
    await audit_grants(session, ctx, snap, action="grant.suspended", grants=changed, details={"reason": MISSED})
    await grant_changed(session, ctx, won, GrantEvent.SUSPENDED)
    for grant in changed:
        info, rep = snap.info(grant), snap.rep(grant.org_id)
        workspace = await workspace_of_org_id(session, grant.org_id)
        outbox.dm_all(session, snap.admins(grant.org_id), msg.build_suspended_dm(info, ctx.tz), workspace=workspace)
        note = msg.build_suspended_note(info, rep, ctx.tz)
        tell_request_thread(session, snap, request_id=grant.request_id, org_id=grant.org_id, rep=rep, message=note)
    return Counter(suspended=len(changed))
