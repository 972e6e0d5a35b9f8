"""Org identity verification: warn reps before `verified_until`, suspend when it passes (the
`org-verification` job's steps), and restore when the directory extends it.

`verified_until` is a date: the org is verified through that day (in the display zone) and
lapses the day after. Warnings (`TRUSTBOT_ORG_VERIFICATION_WARN_DAYS`, default 30 and 7) go to the
rep and backup reps once per org, date and offset. On lapse the org's active grants are
suspended with reason `org_verification_lapsed`; `restore_org_verification` — called when a
directory update moves the date forward — re-activates exactly those grants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import lifecycle as msg
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.services.notices import claim_countdown
from trustbot.storage.queries import grants as gq
from trustbot.storage.queries.directory import orgs_by_ids, orgs_verified_until
from trustbot.storage.tables import Org, SuspensionReason

LAPSED = SuspensionReason.ORG_VERIFICATION_LAPSED


def warning_key(org: Org, offset: int) -> str:
    """Once-only key of one verification warning; a new date starts a fresh cycle."""
    return f"orgverify:{org.pk}:{org.verified_until}:{offset}"


def _today(ctx: ServiceContext) -> date:
    return ctx.now().astimezone(ctx.tz).date()


def days_to_lapse(ctx: ServiceContext, org: Org) -> int:
    """Days from today (display zone) to the org's `verified_until`."""
    return ((org.verified_until or date.max) - _today(ctx)).days


async def lapsing(session: AsyncSession, ctx: ServiceContext, until: datetime) -> list[Org]:
    """Orgs still verified whose verification ends by `until`."""
    today = _today(ctx)
    orgs = await orgs_verified_until(session, on_or_before=until.astimezone(ctx.tz).date())
    return [o for o in orgs if o.verified_until is not None and o.verified_until >= today]


async def lapsed(session: AsyncSession, ctx: ServiceContext) -> list[Org]:
    """Orgs whose verification ended before today."""
    yesterday = date.fromordinal(_today(ctx).toordinal() - 1)
    return await orgs_verified_until(session, on_or_before=yesterday)


async def warn_reps(session: AsyncSession, ctx: ServiceContext, orgs: Sequence[Org]) -> Counter[str]:
    """DM the rep and backup reps the most urgent warning each org has not had yet."""
    offsets = sorted({d for d in ctx.settings.org_verification_warn_days if d >= 0})
    todo = await claim_countdown(
        session, ctx.clock, orgs, offsets=offsets, days_left=lambda o: days_to_lapse(ctx, o), key=warning_key
    )
    snap = await load_snapshot(session, org_ids=[o.pk for o in todo])
    counts: Counter[str] = Counter()
    for org in todo:
        rendered = msg.build_org_verification_warning(org, days_to_lapse(ctx, org))
        counts["warnings"] += outbox.dm_all(session, [snap.rep(org.pk), *snap.backup_reps(org.pk)], rendered)
    return counts


async def suspend_lapsed(session: AsyncSession, ctx: ServiceContext, orgs: Sequence[Org]) -> Counter[str]:
    """Suspend the active grants of orgs whose verification lapsed; tell their admins and rep."""
    changed = await gq.suspend_org_grants(session, org_ids=[o.pk for o in orgs], reason=LAPSED, at=ctx.now())
    await _announce(session, ctx, changed, action="grant.suspended", build=msg.build_org_lapsed)
    await grant_changed(session, ctx, [grant_id for grant_id, _ in changed], GrantEvent.SUSPENDED)
    return Counter(suspended=len(changed))


async def restore_org_verification(session: AsyncSession, ctx: ServiceContext, *, org_ids: Iterable[int]) -> list[int]:
    """Re-activate grants suspended for a lapsed verification of orgs now verified again; returns their ids."""
    today = _today(ctx)
    orgs = await orgs_by_ids(session, org_ids=org_ids)
    verified = [o.pk for o in orgs.values() if o.verified_until and o.verified_until >= today]
    changed = await gq.restore_org_grants(session, org_ids=verified, reason=LAPSED)
    await _announce(session, ctx, changed, action="grant.restored", build=msg.build_org_restored)
    await grant_changed(session, ctx, [grant_id for grant_id, _ in changed], GrantEvent.RESTORED)
    return [grant_id for grant_id, _ in changed]


async def _announce(
    session: AsyncSession, ctx: ServiceContext, changed: list[tuple[int, int]], *, action: str, build: msg.OrgNotice
) -> None:
    """Audit and tell admins and the rep, one message per org listing its grants."""
    by_org: dict[int, list[int]] = {}
    for grant_id, org_id in changed:
        by_org.setdefault(org_id, []).append(grant_id)
    snap = await load_snapshot(session, org_ids=by_org)
    for org_id, grant_ids in sorted(by_org.items()):
        org = snap.orgs[org_id]
        details = {"reason": LAPSED, "grants": grant_ids, "verified_until": str(org.verified_until)}
        await record_audit(session, ctx, action=action, subject=f"org:{org.slug}", details=details)
        await dm_org_and_home(
            session, org_id, build(org, grant_ids), org_people=snap.admins(org_id), home_people=[snap.rep(org_id)]
        )
