"""Grant expiry: warn admins ahead of `expires_at`, then expire the grant (the `grant-expiry` job's steps).

Warnings count calendar days in the display zone (`TRUSTBOT_EXPIRY_WARN_DAYS`, default 7 and 1),
once per grant, expiry date and offset. Expiring is a conditional update, so of two racing
runners only the one that changed the row announces it: admins and named members by DM (their
access ends), the rep in the request's thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import lifecycle as msg
from trustbot.services.access.lifecycle import audit_grants, tell_request_thread
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.services.notices import claim_countdown, days_until
from trustbot.storage.queries import grants as gq
from trustbot.storage.tables import Grant

END_REASON = "reached its end date"


def warning_key(grant: Grant, offset: int, tz: tzinfo) -> str:
    """Once-only key of one expiry warning."""
    return f"expiry:{grant.pk}:{grant.expires_at.astimezone(tz).date().isoformat()}:{offset}"


def days_to_expiry(ctx: ServiceContext, grant: Grant) -> int:
    """Calendar days until the grant expires, in the display zone."""
    return days_until(grant.expires_at, ctx.now(), ctx.tz)


async def expiring(session: AsyncSession, ctx: ServiceContext, until: datetime) -> list[Grant]:
    """Live grants expiring between now and `until`."""
    return await gq.expiring_grants(session, now=ctx.now(), until=until)


async def expired(session: AsyncSession, ctx: ServiceContext) -> list[Grant]:
    """Live grants whose `expires_at` has passed."""
    return await gq.expired_grants(session, now=ctx.now())


async def warn_admins(session: AsyncSession, ctx: ServiceContext, grants: Sequence[Grant]) -> Counter[str]:
    """DM the admins (the rep when there are none) the most urgent expiry warning each grant has not had yet."""
    offsets = sorted({d for d in ctx.settings.expiry_warn_days if d >= 0})
    todo = await claim_countdown(
        session,
        ctx.clock,
        grants,
        offsets=offsets,
        days_left=lambda g: days_to_expiry(ctx, g),
        key=lambda g, d: warning_key(g, d, ctx.tz),
    )
    snap = await load_snapshot(session, org_ids=[g.org_id for g in todo])
    counts: Counter[str] = Counter()
    for grant in todo:
        rendered = msg.build_expiry_warning_dm(snap.info(grant), days_to_expiry(ctx, grant), ctx.tz)
        admins = snap.admins(grant.org_id)
        counts["warnings"] += await dm_org_and_home(
            session, grant.org_id, rendered, org_people=admins, home_people=[] if admins else [snap.rep(grant.org_id)]
        )
    return counts


async def expire(session: AsyncSession, ctx: ServiceContext, grants: Sequence[Grant]) -> Counter[str]:
    """Expire grants still past their end; tell admins and members, and the rep in the request's thread."""
    won = set(await gq.expire_grants(session, grant_ids=[g.pk for g in grants], now=ctx.now(), reason=END_REASON))
    changed = [g for g in grants if g.pk in won]
    snap = await load_snapshot(session, org_ids=[g.org_id for g in changed])
    await audit_grants(session, ctx, snap, action="grant.expired", grants=changed, details={"reason": END_REASON})
    await grant_changed(session, ctx, sorted(won), GrantEvent.EXPIRED)
    for grant in changed:
        info, rep = snap.info(grant), snap.rep(grant.org_id)
        expired = msg.build_expired_dm(info, ctx.tz)
        await dm_org_and_home(session, grant.org_id, expired, org_people=[*snap.admins(grant.org_id), *grant.members])
        note = msg.build_expired_note(info, rep, ctx.tz)
        tell_request_thread(session, snap, request_id=grant.request_id, org_id=grant.org_id, rep=rep, message=note)
    return Counter(expired=len(changed))
