"""A `user_change` event: a covered person who is deactivated, became a bot, or whose email left the
org's domains is removed from the org's grants (audited, admins and rep told, `grant.members_changed`).

A person whose new email is still at the org's domains stays, with the new address recorded, so
the gateway matches them by the address they now sign in with. Open (pending) requests naming the
person follow the same rule, so a request does not outlive its people while it waits: the recorded
address is renewed, or the person is taken off the request (audited, noted in its thread). Approval
checks everyone again anyway (`trustbot.services.access.decisions`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.gateway import build_member_removed_notice
from trustbot.messages.requests import build_member_dropped_note
from trustbot.services.access.cards import build_card, refresh_parent, thread_note
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.entitlements.identity import Profile, membership_problem
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.storage.queries import entitlements as q
from trustbot.storage.queries.directory import get_directory_state, orgs_by_ids
from trustbot.storage.queries.grants import get_grant, transition_grant
from trustbot.storage.queries.requests import open_requests_naming, transition_request
from trustbot.storage.tables import LIVE_GRANTS, OPEN_REQUESTS, AccessRequest


async def apply_user_change(
    session: AsyncSession, ctx: ServiceContext, *, profile: Profile, team: str | None
) -> Counter[str]:
    """Remove the person of workspace `team` (None: home) from every live grant they may no longer be named in;
    renew their email elsewhere. The same user id in another workspace is another person: untouched."""
    counts = await _apply_to_open_requests(session, ctx, profile, team)
    named = await q.live_grants_naming(session, slack_id=profile.user_id, team=team)
    snap = await load_snapshot(session, org_ids={g.org_id for g, _ in named})
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
        await dm_org_and_home(
            session, grant.org_id, notice, org_people=snap.admins(grant.org_id), home_people=[snap.rep(grant.org_id)]
        )
        counts["removed"] += 1
    return counts


async def _apply_to_open_requests(
    session: AsyncSession, ctx: ServiceContext, profile: Profile, team: str | None
) -> Counter[str]:
    """Renew the person's recorded email on open requests naming them, or take them off those requests."""
    counts: Counter[str] = Counter()
    requests = await open_requests_naming(session, slack_id=profile.user_id, team=team)
    orgs = await orgs_by_ids(session, org_ids={r.org_id for r in requests})
    for request in requests:
        org = orgs.get(request.org_id)
        problem = membership_problem(profile, org.domains if org else [])
        recorded = (request.member_emails or {}).get(profile.user_id)
        if problem is None and (not profile.email or profile.email == recorded):
            continue
        emails = {m: e for m, e in (request.member_emails or {}).items() if m != profile.user_id}
        members = list(request.members)
        details: dict[str, Any]
        if problem is None and profile.email:
            emails[profile.user_id] = profile.email
            action, details = "request.member_email_changed", {"member": profile.user_id, "email": profile.email}
        else:
            members = [m for m in members if m != profile.user_id]
            action, details = "request.member_removed", {"member": profile.user_id, "why": problem, "members": members}
        values = {"members": members, "member_emails": emails, "updated_at": ctx.now()}
        if not await transition_request(session, request_id=request.pk, from_statuses=OPEN_REQUESTS, values=values):
            continue
        await record_audit(session, ctx, action=action, subject=f"request:{request.pk}", details=details)
        counts["request_renewed" if action == "request.member_email_changed" else "request_removed"] += 1
        if action == "request.member_removed":
            await _tell_reps(session, ctx, request, f"{profile.name} {problem}")
    return counts


async def _tell_reps(session: AsyncSession, ctx: ServiceContext, request: AccessRequest, why: str) -> None:
    """Note in the request's thread who was taken off it, and show its new scope on the parent."""
    channel = (await get_directory_state(session)).reps_channel
    if not channel:
        return
    card = await build_card(session, request)
    thread_note(session, channel, request, build_member_dropped_note(card, why))
    refresh_parent(session, ctx, channel, card)
