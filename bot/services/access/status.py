"""The read model behind `/trust status` and App Home: open requests, live grants, and what awaits a rep."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.grants import RequestRow, StatusReport
from trustbot.services.access.grants import grant_rows
from trustbot.services.context import ServiceContext
from trustbot.storage.queries.directory import list_orgs, list_tiers, orgs_by_ids
from trustbot.storage.queries.grants import list_grants
from trustbot.storage.queries.requests import approvals_by_request, open_requests
from trustbot.storage.tables import LIVE_GRANTS, AccessRequest, Org, Role, approvals_needed


async def _request_rows(
    session: AsyncSession, requests: list[AccessRequest], orgs: dict[int, Org], approvers: dict[int, list[str]]
) -> list[RequestRow]:
    tiers = {t.id: t for t in await list_tiers(session)}
    rows = []
    for req in requests:
        if req.org_id not in orgs:
            continue
        tier = tiers.get(req.tier_id)
        rows.append(
            RequestRow(
                request=req,
                org=orgs[req.org_id],
                tier_name=tier.name if tier else req.tier_id,
                approvals=len(approvers.get(req.pk, [])),
                approvals_needed=approvals_needed(tier),
            )
        )
    return rows


async def list_status(session: AsyncSession, ctx: ServiceContext) -> StatusReport:
    """Open requests and live grants of the actor's orgs; for reps and operators, what awaits their decision."""
    actor = ctx.actor
    actor.require_known()
    if actor.is_operator:
        orgs = {o.pk: o for o in await list_orgs(session)}
        decide_ids = list(orgs)
    else:
        orgs = await orgs_by_ids(session, org_ids=actor.org_ids())
        decide_ids = actor.org_ids(Role.REP, Role.BACKUP_REP)
    mine = [
        i for i in orgs if actor.is_operator or actor.has_role(i, Role.ADMIN, Role.SECURITY_LEAD) or i in decide_ids
    ]
    requests = await open_requests(session, org_ids=mine)
    to_decide = await open_requests(session, org_ids=decide_ids)
    approvers = await approvals_by_request(session, request_ids=[r.pk for r in [*requests, *to_decide]])
    awaiting = [
        r
        for r in to_decide
        if not actor.is_person(r.requester, r.requester_team) and ctx.user_id not in approvers.get(r.pk, [])
    ]
    awaiting_ids = {r.pk for r in awaiting}
    grants = await list_grants(session, org_ids=mine, statuses=LIVE_GRANTS)
    names = ("all orgs",) if actor.is_operator else tuple(o.name for o in sorted(orgs.values(), key=lambda o: o.slug))
    return StatusReport(
        user_id=ctx.user_id,
        org_names=names,
        open_requests=tuple(
            await _request_rows(session, [r for r in requests if r.id not in awaiting_ids], orgs, approvers)
        ),
        awaiting_me=tuple(await _request_rows(session, awaiting, orgs, approvers)),
        grants=tuple(await grant_rows(session, actor, grants, orgs)),
    )
