"""Request SLA: nudge the rep, escalate to backup reps, expire undecided requests (the `request-sla` job's steps).

Ages count from `created_at`. A pending request older than `TRUSTBOT_REQUEST_NUDGE_HOURS` gets one
nudge in its thread mentioning the rep; older than `TRUSTBOT_REQUEST_ESCALATE_HOURS`, one
escalation mentioning the backup reps (operators when it has none). Older than
`TRUSTBOT_REQUEST_EXPIRE_DAYS`, a pending or info-requested request expires: the parent message
shows it, the decision buttons go, the thread and the requester are told. `nudged_at` /
`escalated_at` are set by conditional updates, which make each notice once-only. Requests waiting
for the requester's answer (`info_requested`) are not nudged — the rep is not the one late.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import lifecycle as msg
from trustbot.messages.text import Rendered
from trustbot.services import outbox
from trustbot.services.access.cards import build_card, parent_key, refresh_both
from trustbot.services.access.lifecycle import tell_request_thread
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import Snapshot, load_snapshot
from trustbot.storage.queries import requests as rq
from trustbot.storage.tables import AccessRequest, RequestStatus


@dataclass(frozen=True)
class Overdue:
    """Open requests past each SLA step, as one run sees them."""

    expiring: list[AccessRequest]
    escalating: list[AccessRequest]
    nudging: list[AccessRequest]


def _cutoffs(ctx: ServiceContext) -> tuple[datetime, datetime, datetime]:
    now, settings = ctx.now(), ctx.settings
    return (
        now - timedelta(hours=settings.request_nudge_hours),
        now - timedelta(hours=settings.request_escalate_hours),
        now - timedelta(days=settings.request_expire_days),
    )


async def overdue_requests(session: AsyncSession, ctx: ServiceContext) -> Overdue:
    """Which open requests are due for expiry, escalation or a nudge."""
    nudge_at, escalate_at, expire_at = _cutoffs(ctx)
    # The most recent cutoff bounds every rule; only open requests that old are read.
    stale = await rq.stale_requests(session, created_before=max(nudge_at, escalate_at, expire_at))
    pending = [r for r in stale if r.status == RequestStatus.PENDING]
    return Overdue(
        expiring=[r for r in stale if r.created_at <= expire_at],
        escalating=[r for r in pending if expire_at < r.created_at <= escalate_at and r.escalated_at is None],
        nudging=[r for r in pending if escalate_at < r.created_at <= nudge_at and r.nudged_at is None],
    )


def _to_thread(
    session: AsyncSession, snap: Snapshot, request: AccessRequest, message: Rendered, users: list[str]
) -> None:
    # The thread is where the decision happens; without a reps channel, DM the people mentioned.
    if snap.reps_channel:
        tell_request_thread(session, snap, request_id=request.pk, org_id=request.org_id, rep=None, message=message)
    else:
        outbox.dm_all(session, users, message)


async def expire_requests(
    session: AsyncSession, ctx: ServiceContext, requests: Sequence[AccessRequest]
) -> Counter[str]:
    """Expire requests still undecided; update their messages and tell the requester."""
    _, _, expire_at = _cutoffs(ctx)
    ids = [r.pk for r in requests]
    won = await rq.expire_requests(session, request_ids=ids, created_before=expire_at, at=ctx.now())
    fresh = await rq.requests_by_ids(session, request_ids=won)
    snap = await load_snapshot(session, org_ids=[r.org_id for r in fresh.values()])
    days = ctx.settings.request_expire_days
    for request in (fresh[i] for i in won):
        subject = parent_key(request.pk)
        await record_audit(session, ctx, action="request.expired", subject=subject, details={"after_days": days})
        if snap.reps_channel:
            refresh_both(session, ctx, snap.reps_channel, await build_card(session, request))
        note = msg.build_request_expired_note(request, days)
        tell_request_thread(session, snap, request_id=request.pk, org_id=request.org_id, rep=None, message=note)
        outbox.send_dm(
            session,
            user=request.requester,
            message=msg.build_request_expired_dm(request, snap.orgs.get(request.org_id), days),
        )
    return Counter(expired=len(won))


async def escalate_requests(
    session: AsyncSession, ctx: ServiceContext, requests: Sequence[AccessRequest]
) -> Counter[str]:
    """Mention the backup reps in the thread of requests waiting too long (an escalation covers the nudge)."""
    won = set(await rq.mark_escalated(session, request_ids=[r.pk for r in requests], at=ctx.now()))
    hours = ctx.settings.request_escalate_hours
    snap = await load_snapshot(session, org_ids=[r.org_id for r in requests if r.pk in won])
    for request in (r for r in requests if r.pk in won):
        backups = snap.backup_reps(request.org_id)
        note = msg.build_escalation_note(request, snap.rep(request.org_id), backups, hours)
        _to_thread(session, snap, request, note, backups)
        details = {"after_hours": hours, "backup_reps": backups}
        await record_audit(session, ctx, action="request.escalated", subject=parent_key(request.pk), details=details)
    await rq.mark_nudged(session, request_ids=sorted(won), at=ctx.now(), pending_only=False)
    return Counter(escalated=len(won))


async def nudge_requests(session: AsyncSession, ctx: ServiceContext, requests: Sequence[AccessRequest]) -> Counter[str]:
    """Remind the rep in the thread of requests waiting for a decision."""
    won = set(await rq.mark_nudged(session, request_ids=[r.pk for r in requests], at=ctx.now()))
    hours = ctx.settings.request_nudge_hours
    snap = await load_snapshot(session, org_ids=[r.org_id for r in requests if r.pk in won])
    for request in (r for r in requests if r.pk in won):
        rep = snap.rep(request.org_id)
        _to_thread(session, snap, request, msg.build_nudge_note(request, rep, hours), [rep or ""])
        details = {"after_hours": hours, "rep": rep}
        await record_audit(session, ctx, action="request.nudged", subject=parent_key(request.pk), details=details)
    return Counter(nudged=len(won))
