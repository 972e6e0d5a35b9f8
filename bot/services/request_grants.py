"""Grants created by requests: revoke, `/trust grants [org]`, `/trust status` (DESIGN §2, §4.4, §5).

Revoking is for the org's account reps and operators; listing is for the org's admins, reps and
security leads (operators: any org). Deny by default everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.ids import Block
from bot.messages.grants import (
    GrantListing,
    GrantRow,
    RequestRow,
    StatusReport,
    build_revoke_ack,
    build_revoked_dm,
    build_revoked_note,
)
from bot.messages.request_modals import TEXT_MAX
from bot.messages.requests import build_request_parent
from bot.messages.text import Rendered, safe
from bot.services import outbox
from bot.services.audit import record_audit
from bot.services.errors import AlreadyDecided, InvalidInput, NotAccountRep, NotAuthorized, NotFound
from bot.services.people import Actor, org_people
from bot.services.request_common import actor_for, build_card, parent_key
from storage.queries import access as q
from storage.queries.directory import get_directory_state, get_org, list_orgs, list_tiers, orgs_by_ids
from storage.tables import AccessRequest, Grant, GrantStatus, Org, Role

_VIEWER_ROLES = (Role.ADMIN, Role.REP, Role.BACKUP_REP, Role.SECURITY_LEAD)


@dataclass(frozen=True)
class RevokeResult:
    """A revoked grant, as a row to render, and the ephemeral `ack`."""

    grant: Grant
    row: GrantRow
    ack: Rendered


async def _grant_row(session: AsyncSession, grant: Grant, actor: Actor | None = None) -> GrantRow:
    orgs = await orgs_by_ids(session, org_ids=[grant.org_id])
    org = orgs.get(grant.org_id)
    if org is None:
        raise NotFound(f"Grant #{grant.id} belongs to an org that no longer exists.")
    tiers = {t.id: t.name for t in await list_tiers(session)}
    request = await q.get_request(session, request_id=grant.request_id)
    can_revoke = actor is not None and (actor.is_operator or actor.is_rep_of(grant.org_id))
    return GrantRow(
        grant=grant, org=org, tier_name=tiers.get(grant.tier_id, grant.tier_id), request=request, can_revoke=can_revoke
    )


async def authorize_revoke(session: AsyncSession, *, grant_id: int, user_id: str, operators: list[str]) -> GrantRow:
    """Check, before the revoke modal opens, that the user may revoke this live grant."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    grant = await q.get_grant(session, grant_id=grant_id)
    if grant is None:
        raise NotFound(f"There is no grant #{grant_id}.")
    if not (actor.is_operator or actor.is_rep_of(grant.org_id)):
        raise NotAccountRep(f"Only the org's account reps or operators can revoke grant #{grant_id}.")
    if grant.status not in q.LIVE_GRANT_STATUSES:
        raise AlreadyDecided(f"Grant #{grant_id} is already {grant.status}; nothing changed.")
    return await _grant_row(session, grant, actor)


async def revoke_grant(
    session: AsyncSession,
    clock: Clock,
    *,
    grant_id: int,
    user_id: str,
    operators: list[str],
    reason: str,
    tz: tzinfo | str = "UTC",
) -> RevokeResult:
    """Revoke an active or suspended grant: audited, admins/requester/members told, note in the request's thread."""
    await authorize_revoke(session, grant_id=grant_id, user_id=user_id, operators=operators)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason for revoking.", errors={Block.REASON: "Give a reason for revoking."})
    if len(reason) > TEXT_MAX:
        raise InvalidInput(
            f"Keep the reason to {TEXT_MAX} characters.", errors={Block.REASON: f"Keep it to {TEXT_MAX} characters."}
        )
    now = clock.now()
    won = await q.transition_grant(
        session,
        grant_id=grant_id,
        from_statuses=q.LIVE_GRANT_STATUSES,
        values={"status": GrantStatus.REVOKED, "ended_by": user_id, "ended_at": now, "end_reason": reason},
    )
    grant = await q.get_grant(session, grant_id=grant_id)
    assert grant is not None
    if not won:
        raise AlreadyDecided(f"Grant #{grant_id} is already {grant.status}; nothing changed.")
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="grant.revoked",
        subject=f"grant:{grant_id}",
        details={"reason": reason, "request": grant.request_id},
    )
    row = await _grant_row(session, grant)
    dm = build_revoked_dm(row, tz)
    people = await org_people(session, org_id=grant.org_id)
    requester = row.request.requester if row.request else None
    told = list(dict.fromkeys([*people.admins, *([requester] if requester else []), *grant.members]))
    for user in told:
        outbox.send_dm(session, clock, user=user, text=dm.text, blocks=dm.blocks)
    state = await get_directory_state(session)
    if state.reps_channel and row.request is not None:
        note = build_revoked_note(row, tz)
        outbox.reply_in_thread(
            session,
            clock,
            channel=state.reps_channel,
            parent_key=parent_key(grant.request_id),
            text=note.text,
            blocks=note.blocks,
        )
        card = await build_card(session, row.request, grant=grant)
        parent = build_request_parent(card, tz)
        outbox.update_message(
            session,
            clock,
            channel=state.reps_channel,
            key=parent_key(grant.request_id),
            text=parent.text,
            blocks=parent.blocks,
        )
    return RevokeResult(grant=grant, row=row, ack=build_revoke_ack(row, tz))


async def _rows(session: AsyncSession, actor: Actor, grants: list[Grant], orgs: dict[int, Org]) -> list[GrantRow]:
    tiers = {t.id: t.name for t in await list_tiers(session)}
    requests = {g.request_id: await q.get_request(session, request_id=g.request_id) for g in grants}
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


async def list_grants(
    session: AsyncSession, *, user_id: str, operators: list[str], org_slug: str | None = None
) -> GrantListing:
    """`/trust grants [org]`: live grants first, then ended ones, for the orgs the user may see."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    if org_slug:
        org = await get_org(session, slug=org_slug.strip().lower())
        if org is None or org.id is None:
            if not actor.is_operator and not actor.org_ids(*_VIEWER_ROLES):
                raise NotAuthorized("You can't see grants: you hold no role that allows it.")
            raise NotFound(f"There is no org `{safe(org_slug, 64)}` in the directory.")
        if not (actor.is_operator or actor.has_role(org.id, *_VIEWER_ROLES)):
            raise NotAuthorized(
                f"You can't see {org.name}'s grants: only its admins, reps, security leads and operators can."
            )
        orgs = {org.id: org}
        title = org.name
    elif actor.is_operator:
        orgs = {o.id: o for o in await list_orgs(session) if o.id is not None}
        title = "all orgs"
    else:
        orgs = await orgs_by_ids(session, org_ids=actor.org_ids(*_VIEWER_ROLES))
        if not orgs:
            raise NotAuthorized("You can't see grants: you hold no role that allows it.")
        title = ", ".join(o.name for o in sorted(orgs.values(), key=lambda o: o.slug))
    grants = await q.list_grants(session, org_ids=list(orgs))
    grants.sort(key=lambda g: (g.status not in q.LIVE_GRANT_STATUSES, -(g.id or 0)))
    return GrantListing(title=title, rows=tuple(await _rows(session, actor, grants, orgs)))


async def _request_rows(session: AsyncSession, requests: list[AccessRequest], orgs: dict[int, Org]) -> list[RequestRow]:
    tiers = {t.id: t for t in await list_tiers(session)}
    rows = []
    for req in requests:
        if req.org_id not in orgs:
            continue
        tier = tiers.get(req.tier_id)
        count = await q.count_approvals(session, request_id=req.id or 0)
        rows.append(
            RequestRow(
                request=req,
                org=orgs[req.org_id],
                tier_name=tier.name if tier else req.tier_id,
                approvals=count,
                approvals_needed=max(1, tier.approvals) if tier else 1,
            )
        )
    return rows


async def list_status(session: AsyncSession, *, user_id: str, operators: list[str]) -> StatusReport:
    """`/trust status`: open requests and live grants of the user's orgs; for reps and operators, what awaits them."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    if actor.is_operator:
        orgs = {o.id: o for o in await list_orgs(session) if o.id is not None}
        decide_ids = list(orgs)
    else:
        orgs = await orgs_by_ids(session, org_ids=actor.org_ids())
        decide_ids = actor.org_ids(Role.REP, Role.BACKUP_REP)
    mine = [
        i for i in orgs if actor.is_operator or actor.has_role(i, Role.ADMIN, Role.SECURITY_LEAD) or i in decide_ids
    ]
    open_requests = await q.open_requests_for_orgs(session, org_ids=mine)
    awaiting = []
    for req in await q.open_requests_for_orgs(session, org_ids=decide_ids):
        approvers = {a.approver for a in await q.list_approvals(session, request_id=req.id or 0)}
        if req.requester != user_id and user_id not in approvers:
            awaiting.append(req)
    grants = await q.list_grants(session, org_ids=mine, statuses=q.LIVE_GRANT_STATUSES)
    awaiting_ids = {r.id for r in awaiting}
    return StatusReport(
        user_id=user_id,
        org_names=tuple(o.name for o in sorted(orgs.values(), key=lambda o: o.slug))
        if not actor.is_operator
        else ("all orgs",),
        open_requests=tuple(await _request_rows(session, [r for r in open_requests if r.id not in awaiting_ids], orgs)),
        awaiting_me=tuple(await _request_rows(session, awaiting, orgs)),
        grants=tuple(await _rows(session, actor, grants, orgs)),
    )
