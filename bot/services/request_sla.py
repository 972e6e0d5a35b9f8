"""Request SLA (DESIGN §5): nudge the rep, escalate to backup reps, expire undecided requests.

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
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import lifecycle as msg
from bot.messages.text import Rendered
from bot.services.audit import record_audit
from bot.services.notices import JOB_ACTOR, Snapshot, describe, dm_all, load_snapshot, run_batch, tell_rep
from bot.services.request_common import build_card, refresh_actions, refresh_parent
from storage.database import Database
from storage.queries import grants as gq
from storage.tables import AccessRequest, RequestStatus


async def run_request_sla(db: Database, clock: Clock, settings: Settings) -> str:
    """Nudge, escalate and expire requests waiting for a decision; returns the outcome."""
    now, tz = clock.now(), settings.tz
    nudge_at = now - timedelta(hours=settings.request_nudge_hours)
    escalate_at = now - timedelta(hours=settings.request_escalate_hours)
    expire_at = now - timedelta(days=settings.request_expire_days)
    async with db.sessions() as session:
        # The most recent cutoff bounds every rule; only open requests that old are read.
        stale = await gq.stale_requests(session, created_before=max(nudge_at, escalate_at, expire_at), statuses=gq.OPEN)
    expiring = [r for r in stale if r.created_at <= expire_at]
    escalating = [
        r
        for r in stale
        if expire_at < r.created_at <= escalate_at and r.status == RequestStatus.PENDING and r.escalated_at is None
    ]
    nudging = [
        r
        for r in stale
        if r.created_at > escalate_at
        and r.status == RequestStatus.PENDING
        and r.created_at <= nudge_at
        and r.nudged_at is None
    ]

    async def expire(session: AsyncSession, requests: Sequence[AccessRequest]) -> Counter[str]:
        won = set(
            await gq.mark_requests(
                session,
                request_ids=[r.id or 0 for r in requests],
                where=[AccessRequest.status.in_(gq.OPEN), AccessRequest.created_at <= expire_at],  # type: ignore[attr-defined]
                values={"status": RequestStatus.EXPIRED, "decided_at": now, "updated_at": now},
            )
        )
        changed = [r for r in requests if r.id in won]
        fresh = await gq.requests_by_ids(session, request_ids=won)
        snap = await load_snapshot(session, org_ids=[r.org_id for r in changed])
        for old in changed:
            request = fresh[old.id or 0]
            await record_audit(
                session,
                clock,
                actor=JOB_ACTOR,
                action="request.expired",
                subject=f"request:{request.id}",
                details={"after_days": settings.request_expire_days},
            )
            if snap.reps_channel:
                card = await build_card(session, request)
                refresh_parent(session, clock, snap.reps_channel, card, tz)
                await refresh_actions(session, clock, snap.reps_channel, card, tz)
            tell_rep(
                session,
                clock,
                snap,
                request_id=request.id or 0,
                rep=None,
                rendered=msg.build_request_expired_note(request, settings.request_expire_days),
            )
            dm_all(
                session,
                clock,
                [request.requester],
                msg.build_request_expired_dm(request, snap.orgs.get(request.org_id), settings.request_expire_days),
            )
        return Counter(expired=len(changed))

    async def escalate(session: AsyncSession, requests: Sequence[AccessRequest]) -> Counter[str]:
        won = set(
            await gq.mark_requests(
                session,
                request_ids=[r.id or 0 for r in requests],
                where=[AccessRequest.status == RequestStatus.PENDING, AccessRequest.escalated_at.is_(None)],  # type: ignore[union-attr]
                values={"escalated_at": now},
            )
        )
        snap = await load_snapshot(session, org_ids=[r.org_id for r in requests if r.id in won])
        for request in (r for r in requests if r.id in won):
            rendered = msg.build_escalation_note(
                request, snap.rep(request.org_id), snap.backup_reps(request.org_id), settings.request_escalate_hours
            )
            _to_thread(session, clock, snap, request, rendered, snap.backup_reps(request.org_id))
            await record_audit(
                session,
                clock,
                actor=JOB_ACTOR,
                action="request.escalated",
                subject=f"request:{request.id}",
                details={
                    "after_hours": settings.request_escalate_hours,
                    "backup_reps": snap.backup_reps(request.org_id),
                },
            )
        # An escalation covers the nudge too, so a request is never nudged after being escalated.
        await gq.mark_requests(
            session,
            request_ids=sorted(won),
            where=[AccessRequest.nudged_at.is_(None)],  # type: ignore[union-attr]
            values={"nudged_at": now},
        )
        return Counter(escalated=len(won))

    async def nudge(session: AsyncSession, requests: Sequence[AccessRequest]) -> Counter[str]:
        won = set(
            await gq.mark_requests(
                session,
                request_ids=[r.id or 0 for r in requests],
                where=[AccessRequest.status == RequestStatus.PENDING, AccessRequest.nudged_at.is_(None)],  # type: ignore[union-attr]
                values={"nudged_at": now},
            )
        )
        snap = await load_snapshot(session, org_ids=[r.org_id for r in requests if r.id in won])
        for request in (r for r in requests if r.id in won):
            rep = snap.rep(request.org_id)
            _to_thread(
                session,
                clock,
                snap,
                request,
                msg.build_nudge_note(request, rep, settings.request_nudge_hours),
                [rep or ""],
            )
            await record_audit(
                session,
                clock,
                actor=JOB_ACTOR,
                action="request.nudged",
                subject=f"request:{request.id}",
                details={"after_hours": settings.request_nudge_hours, "rep": rep},
            )
        return Counter(nudged=len(won))

    counts = await run_batch(db, expiring, expire, what="request-sla expiry")
    counts += await run_batch(db, escalating, escalate, what="request-sla escalation")
    counts += await run_batch(db, nudging, nudge, what="request-sla nudge")
    return describe(counts, ["nudged", "escalated", "expired", "failed"])


def _to_thread(
    session: AsyncSession, clock: Clock, snap: Snapshot, request: AccessRequest, rendered: Rendered, users: list[str]
) -> None:
    # The thread is where the decision happens; without a reps channel, DM the people mentioned.
    if snap.reps_channel:
        tell_rep(session, clock, snap, request_id=request.id or 0, rep=None, rendered=rendered)
    else:
        dm_all(session, clock, users, rendered)
