"""A `user_change` event: a covered person who is deactivated, became a bot, or whose email left the
org's domains is removed from the org's grants (audited, admins and rep told, `grant.members_changed`).

A person whose new email is still at the org's domains stays, with the new address recorded, so
the gateway matches them by the address they now sign in with.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.gateway import build_member_removed_notice
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.entitlements.identity import Profile, membership_problem
from trustbot.storage.queries import entitlements as q
from trustbot.storage.queries.grants import get_grant, transition_grant
from trustbot.storage.tables import LIVE_GRANTS


async def apply_user_change(session: AsyncSession, ctx: ServiceContext, *, profile: Profile) -> Counter[str]:
    """Remove the person from every live grant they may no longer be named in; renew their email elsewhere."""
    named = await q.live_grants_naming(session, slack_id=profile.user_id)
    snap = await load_snapshot(session, org_ids={g.org_id for g, _ in named})
    counts: Counter[str] = Counter()
    for grant, recorded in named:
        org = snap.orgs.get(grant.org_id)
        grant_id = grant.pk
        problem = membership_problem(profile, org.domains if org else [])
        if problem is None:
            if profile.email and profile.email != recorded:
                await q.set_member_email(session, grant_ids=[grant_id], slack_id=profile.user_id, email=profile.email)
                await grant_changed(session, ctx, [grant_id], GrantEvent.MEMBERS_CHANGED)
                counts["renewed"] += 1
            continue
        # Re-read under a row lock: a re-verification or another user_change may be changing this roster.
        fresh = await get_grant(session, grant_id=grant_id, for_update=True)
        if fresh is None or profile.user_id not in fresh.members:
            continue
        grant = fresh
        kept = [m for m in grant.members if m != profile.user_id]
        if not await transition_grant(session, grant_id=grant_id, from_statuses=LIVE_GRANTS, values={"members": kept}):
            continue
        await q.keep_members(session, grant_id=grant_id, slack_ids=kept)
        details = {"member": profile.user_id, "why": problem, "members": kept}
        await record_audit(session, ctx, action="grant.member_removed", subject=f"grant:{grant_id}", details=details)
        await grant_changed(session, ctx, [grant_id], GrantEvent.MEMBERS_CHANGED)
        grant.members = kept
        notice = build_member_removed_notice(snap.info(grant), profile.user_id, f"Slack shows they {problem}")
        outbox.dm_all(session, [*snap.admins(grant.org_id), snap.rep(grant.org_id)], notice)
        counts["removed"] += 1
    return counts
