"""Grants created by requests: revoke one, and list those a person may see.

Revoking is for the org's account reps and operators; listing is for the org's admins, reps and
security leads (operators: any org). Deny by default everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.ids import Block
from trustbot.messages.grants import GrantListing, GrantRow, build_revoked_dm, build_revoked_note
from trustbot.messages.requests import build_request_parent
from trustbot.services import outbox
from trustbot.services.access.cards import build_card, org_share, parent_key
from trustbot.services.access.limits import typed_text
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import ORG_VIEWERS, Actor, org_people, viewable_orgs
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.errors import AlreadyDecided, NotAccountRep, NotFound
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.storage.queries.directory import get_directory_state, list_tiers, orgs_by_ids
from trustbot.storage.queries.grants import get_grant, list_grants, transition_grant
from trustbot.storage.queries.requests import requests_by_ids
from trustbot.storage.tables import LIVE_GRANTS, Grant, GrantStatus, Org


@dataclass(frozen=True)
class Revoked:
    """A grant just revoked, as a row to render."""

    row: GrantRow


async def grant_rows(
    session: AsyncSession, actor: Actor, grants: Sequence[Grant], orgs: dict[int, Org]
) -> list[GrantRow]:
    """Grants of the given orgs as rows to render, with their tier names and requests (batched)."""
    tiers = {t.id: t.name for t in await list_tiers(session)}
    requests = await requests_by_ids(session, request_ids=[g.request_id for g in grants])
    return [
        GrantRow(
            grant=g,
            org=orgs[g.org_id],
            tier_name=tiers.get(g.tier_id, g.tier_id),
            request=requests.get(g.request_id),
            can_revoke=actor.is_operator or actor.is_rep_of(g.org_id),
        )
        for g in grants
        if g.org_id in orgs
    ]


async def authorize_revoke(session: AsyncSession, ctx: ServiceContext, *, grant_id: int) -> GrantRow:
    """Check, before the revoke modal opens, that the actor may revoke this live grant."""
    ctx.actor.require_known()
    grant = await get_grant(session, grant_id=grant_id)
    if grant is None or not (ctx.actor.is_operator or ctx.actor.is_rep_of(grant.org_id)):
        raise NotAccountRep(f"Only the org's account reps or operators can revoke grant #{grant_id}.")
    if grant.status not in LIVE_GRANTS:
        raise AlreadyDecided(f"Grant #{grant_id} is already {grant.status}; nothing changed.")
    orgs = await orgs_by_ids(session, org_ids=[grant.org_id])
    if grant.org_id not in orgs:
        raise NotFound(f"Grant #{grant_id} belongs to an org that no longer exists.")
    return (await grant_rows(session, ctx.actor, [grant], orgs))[0]


async def revoke_grant(session: AsyncSession, ctx: ServiceContext, *, grant_id: int, reason: str) -> Revoked:
    """Revoke an active or suspended grant: audited, admins/requester/members told, note in the request's thread."""
    await authorize_revoke(session, ctx, grant_id=grant_id)
    reason = typed_text(reason, Block.REASON, "reason for revoking")
    values = {"status": GrantStatus.REVOKED, "ended_by": ctx.user_id, "ended_at": ctx.now(), "end_reason": reason}
    won = await transition_grant(session, grant_id=grant_id, from_statuses=LIVE_GRANTS, values=values)
    grant = await get_grant(session, grant_id=grant_id)
    if grant is None or not won:
        raise AlreadyDecided(f"Grant #{grant_id} is already {grant.status if grant else 'gone'}; nothing changed.")
    details = {"reason": reason, "request": grant.request_id}
    await record_audit(session, ctx, action="grant.revoked", subject=f"grant:{grant_id}", details=details)
    await grant_changed(session, ctx, [grant_id], GrantEvent.REVOKED)
    row = (await grant_rows(session, ctx.actor, [grant], await orgs_by_ids(session, org_ids=[grant.org_id])))[0]
    people = await org_people(session, org_id=grant.org_id)
    requester = row.request.requester if row.request else None
    requester_home = row.request is not None and row.request.requester_team is None
    await dm_org_and_home(
        session,
        grant.org_id,
        build_revoked_dm(row, ctx.tz),
        org_people=[*people.admins, *grant.members, None if requester_home else requester],
        home_people=[requester if requester_home else None],
    )
    state = await get_directory_state(session)
    if state.reps_channel and row.request is not None:
        channel, key, share = state.reps_channel, parent_key(grant.request_id), org_share(grant.org_id)
        note = build_revoked_note(row, ctx.tz)
        outbox.reply_in_thread(session, channel=channel, parent_key=key, message=note, share=share)
        card = await build_card(session, row.request, grant=grant)
        parent = build_request_parent(card, ctx.tz)
        outbox.update_message(session, channel=channel, key=key, message=parent, share=share)
    return Revoked(row=row)


async def list_org_grants(session: AsyncSession, ctx: ServiceContext, *, org_slug: str | None) -> GrantListing:
    """`/trust grants [org]`: live grants first, then ended ones, for the orgs the actor may see."""
    ctx.actor.require_known()
    scope = await viewable_orgs(session, ctx.actor, roles=ORG_VIEWERS, org_slug=org_slug, what="grants")
    grants = await list_grants(session, org_ids=scope.org_ids)
    grants.sort(key=lambda g: (g.status not in LIVE_GRANTS, -g.pk))
    orgs = await orgs_by_ids(session, org_ids={g.org_id for g in grants})
    return GrantListing(title=scope.title, rows=tuple(await grant_rows(session, ctx.actor, grants, orgs)))
