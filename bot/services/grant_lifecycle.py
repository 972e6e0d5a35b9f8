"""Grant expiry (DESIGN §5): warn admins ahead of `expires_at`, then expire the grant.

Warnings count calendar days in the display zone (`TRUSTBOT_EXPIRY_WARN_DAYS`, default 7 and 1),
once per grant, expiry date and offset. Expiring is a conditional update, so of two racing
runners only the one that changed the row announces it: admins and named members by DM (their
access ends), the rep in the request's thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import lifecycle as msg
from bot.services.notices import (
    audit_grants,
    claim_countdown,
    days_until,
    describe,
    dm_all,
    load_snapshot,
    run_batch,
    tell_rep,
)
from storage.database import Database
from storage.queries import grants as gq
from storage.tables import Grant, GrantStatus

END_REASON = "reached its end date"


def warning_key(grant: Grant, offset: int, tz: tzinfo) -> str:
    """Once-only key of one expiry warning."""
    return f"expiry:{grant.id}:{grant.expires_at.astimezone(tz).date().isoformat()}:{offset}"


async def run_grant_expiry(db: Database, clock: Clock, settings: Settings) -> str:
    """Warn admins of grants expiring soon and expire those whose `expires_at` passed; returns the outcome."""
    now, tz = clock.now(), settings.tz
    offsets = sorted({d for d in settings.expiry_warn_days if d >= 0})
    async with db.sessions() as session:
        soon = (
            await gq.expiring_grants(session, now=now, until=now + timedelta(days=max(offsets) + 1)) if offsets else []
        )
        ended = await gq.expired_grants(session, now=now)
    soon = [g for g in soon if days_until(g.expires_at, now, tz) <= max(offsets)]

    async def warn(session: AsyncSession, grants: Sequence[Grant]) -> Counter[str]:
        todo = await claim_countdown(
            session,
            clock,
            grants,
            offsets=offsets,
            days_left=lambda g: days_until(g.expires_at, now, tz),
            key=lambda g, d: warning_key(g, d, tz),
        )
        snap = await load_snapshot(session, org_ids=[g.org_id for g in todo])
        counts: Counter[str] = Counter()
        for grant in todo:
            rendered = msg.build_expiry_warning_dm(snap.info(grant), days_until(grant.expires_at, now, tz), tz)
            counts["warnings"] += dm_all(
                session, clock, snap.admins(grant.org_id) or [snap.rep(grant.org_id) or ""], rendered
            )
        return counts

    async def expire(session: AsyncSession, grants: Sequence[Grant]) -> Counter[str]:
        won = set(
            await gq.transition_grants(
                session,
                grant_ids=[g.id or 0 for g in grants],
                where=[Grant.status.in_(gq.LIVE), Grant.expires_at <= now],  # type: ignore[attr-defined]
                values={
                    "status": GrantStatus.EXPIRED,
                    "ended_at": now,
                    "ended_by": "trustbot",
                    "end_reason": END_REASON,
                },
            )
        )
        changed = [g for g in grants if g.id in won]
        snap = await load_snapshot(session, org_ids=[g.org_id for g in changed])
        await audit_grants(session, clock, snap, action="grant.expired", grants=changed, details={"reason": END_REASON})
        for grant in changed:
            info = snap.info(grant)
            dm_all(session, clock, [*snap.admins(grant.org_id), *grant.members], msg.build_expired_dm(info, tz))
            rep = snap.rep(grant.org_id)
            tell_rep(
                session,
                clock,
                snap,
                request_id=grant.request_id,
                rep=rep,
                rendered=msg.build_expired_note(info, rep, tz),
            )
        return Counter(expired=len(changed))

    counts = await run_batch(db, soon, warn, what="grant-expiry warnings")
    counts += await run_batch(db, ended, expire, what="grant-expiry")
    return describe(counts, ["warnings", "expired", "failed"])
