"""Org identity verification (DESIGN §5): warn reps before `verified_until`, suspend when it passes.

`verified_until` is a date: the org is verified through that day (in the display zone) and
lapses the day after. Warnings (`TRUSTBOT_ORG_VERIFICATION_WARN_DAYS`, default 30 and 7) go to the
rep and backup reps once per org, date and offset. On lapse the org's active grants are
suspended with reason `org_verification_lapsed`; `restore_org_verification` — called when a
directory update moves the date forward — re-activates exactly those grants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import lifecycle as msg
from bot.services.audit import record_audit
from bot.services.notices import JOB_ACTOR, claim_notices, describe, dm_all, load_snapshot, run_batch
from storage.database import Database
from storage.queries import grants as gq
from storage.queries.directory import orgs_by_ids
from storage.tables import Org

LAPSED = "org_verification_lapsed"


def warning_key(org: Org, offset: int) -> str:
    """Once-only key of one verification warning; a new date starts a fresh cycle."""
    return f"orgverify:{org.id}:{org.verified_until}:{offset}"


async def run_org_verification(db: Database, clock: Clock, settings: Settings) -> str:
    """Warn reps of orgs whose verification ends soon; suspend grants of orgs whose verification lapsed."""
    today = clock.now().astimezone(settings.tz).date()
    offsets = sorted({d for d in settings.org_verification_warn_days if d >= 0})
    async with db.sessions() as session:
        orgs = await gq.orgs_verified_before(session, until=today + timedelta(days=max(offsets, default=0)))
    lapsed = [o for o in orgs if o.verified_until is not None and o.verified_until < today]
    soon = [o for o in orgs if o.verified_until is not None and o.verified_until >= today] if offsets else []

    async def warn(session: AsyncSession, batch: Sequence[Org]) -> Counter[str]:
        applicable = {o.id: [d for d in offsets if (o.verified_until - today).days <= d] for o in batch}  # type: ignore[operator]
        won = await claim_notices(session, clock, [warning_key(o, d) for o in batch for d in applicable[o.id]])
        todo = [o for o in batch if warning_key(o, min(applicable[o.id])) in won]
        snap = await load_snapshot(session, org_ids=[o.id or 0 for o in todo])
        counts: Counter[str] = Counter()
        for org in todo:
            rendered = msg.build_org_verification_warning(org, (org.verified_until - today).days)  # type: ignore[operator]
            counts["warnings"] += dm_all(
                session, clock, [snap.rep(org.id or 0) or "", *snap.backup_reps(org.id or 0)], rendered
            )
        return counts

    async def suspend(session: AsyncSession, batch: Sequence[Org]) -> Counter[str]:
        changed = await gq.suspend_org_grants(
            session, org_ids=[o.id or 0 for o in batch], reason=LAPSED, at=clock.now()
        )
        await _announce(session, clock, changed, action="grant.suspended", build=msg.build_org_lapsed)
        return Counter(suspended=len(changed))

    counts = await run_batch(db, soon, warn, what="org-verification warnings")
    counts += await run_batch(db, lapsed, suspend, what="org-verification suspensions")
    return describe(counts, ["warnings", "suspended", "failed"])


async def restore_org_verification(
    session: AsyncSession, clock: Clock, *, org_ids: Iterable[int], tz: tzinfo | str = "UTC"
) -> list[int]:
    """Re-activate grants suspended for a lapsed verification of orgs now verified again; returns their ids."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    today: date = clock.now().astimezone(zone).date()
    orgs = await orgs_by_ids(session, org_ids=org_ids)
    verified = [
        o.id for o in orgs.values() if o.id is not None and o.verified_until is not None and o.verified_until >= today
    ]
    changed = await gq.restore_org_grants(session, org_ids=verified, reason=LAPSED)
    await _announce(session, clock, changed, action="grant.restored", build=msg.build_org_restored)
    return [grant_id for grant_id, _ in changed]


async def _announce(
    session: AsyncSession, clock: Clock, changed: list[tuple[int, int]], *, action: str, build: msg.OrgNotice
) -> None:
    """Audit and tell admins and the rep, one message per org listing its grants."""
    by_org: dict[int, list[int]] = {}
    for grant_id, org_id in changed:
        by_org.setdefault(org_id, []).append(grant_id)
    snap = await load_snapshot(session, org_ids=by_org)
    for org_id, grant_ids in sorted(by_org.items()):
        org = snap.orgs[org_id]
        await record_audit(
            session,
            clock,
            actor=JOB_ACTOR,
            action=action,
            subject=f"org:{org.slug}",
            details={"reason": LAPSED, "grants": grant_ids, "verified_until": str(org.verified_until)},
        )
        dm_all(session, clock, [*snap.admins(org_id), snap.rep(org_id) or ""], build(org, grant_ids))
