"""App Home: what one person sees when they open Trustbot's Home tab.

Each role sees its own part, combined when someone holds several roles:

- enterprise admin — their orgs' open requests, live grants (expiry, re-verify due) and credit
  grants (amount, used, expiry);
- account rep (and backup rep) — requests awaiting their decision (not their own, not already
  approved by them), with org and age;
- security lead — active alerts (open, acknowledged, escalated; every severity, `low` included)
  of their orgs;
- operator — counts across all orgs, plus what awaits them (requests to decide, active alerts of
  every org, unknown orgs included).

Deny by default: a user the directory does not know gets an explanation and no org data at all.

Requests and grants come from `access.status.list_status` (the same rules as `/trust status`),
alerts from the query `/trust alerts` uses, credit usage from `credits.usage.credit_usage`, the
attribution rule `/trust credits` and the credit jobs share.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.grants import GrantRow, RequestRow
from trustbot.messages.home import MAX_ALERTS, MAX_CREDITS, AlertLine, CreditLine, HomeCounts, HomeData
from trustbot.services.access.status import list_status
from trustbot.services.context import ServiceContext
from trustbot.services.credits.usage import credit_usage
from trustbot.services.directory.people import Actor
from trustbot.storage.queries import alerts as alerts_q
from trustbot.storage.queries import counts
from trustbot.storage.queries.directory import credit_grants_of, orgs_by_ids
from trustbot.storage.tables import Org, Role

_REP_ROLES = (Role.REP, Role.BACKUP_REP)


async def build_home(session: AsyncSession, ctx: ServiceContext) -> HomeData:
    """Everything the actor's Home tab shows, by role; nothing of any org for unknown people."""
    actor, now = ctx.actor, ctx.now()
    if not actor.is_known:
        return HomeData(user_id=ctx.user_id, known=False, now=now)
    admin_ids = actor.org_ids(Role.ADMIN)
    names = await orgs_by_ids(session, org_ids=actor.org_ids())
    admin_requests: tuple[RequestRow, ...] = ()
    admin_grants: tuple[GrantRow, ...] = ()
    awaiting: tuple[RequestRow, ...] = ()
    if admin_ids or actor.org_ids(*_REP_ROLES) or actor.is_operator:
        report = await list_status(session, ctx)
        admin_requests = tuple(r for r in report.open_requests if r.request.org_id in admin_ids)
        admin_grants = tuple(g for g in report.grants if g.grant.org_id in admin_ids)
        awaiting = report.awaiting_me
    credits, credits_total = await _credit_lines(
        session, orgs={i: names[i] for i in admin_ids if i in names}, today=now.date()
    )
    alerts, alerts_total = await _alert_lines(session, actor)
    return HomeData(
        user_id=ctx.user_id,
        known=True,
        now=now,
        is_operator=actor.is_operator,
        roles=_role_lines(actor, names),
        admin_org_names=tuple(names[i].name for i in admin_ids if i in names),
        admin_requests=admin_requests,
        admin_grants=admin_grants,
        credits=credits,
        credits_total=credits_total,
        is_rep=bool(actor.org_ids(*_REP_ROLES)),
        awaiting=awaiting,
        show_alerts=actor.is_operator or bool(actor.org_ids(Role.SECURITY_LEAD)),
        alerts=alerts,
        alerts_total=alerts_total,
        counts=await _counts(session) if actor.is_operator else None,
    )


def _role_lines(actor: Actor, orgs: dict[int, Org]) -> tuple[str, ...]:
    """`enterprise admin of Acme Security`, … (org names are directory text; the builder escapes)."""
    lines = []
    for label, roles in (
        ("enterprise admin", (Role.ADMIN,)),
        ("account rep", _REP_ROLES),
        ("security lead", (Role.SECURITY_LEAD,)),
    ):
        held = [orgs[i].name for i in actor.org_ids(*roles) if i in orgs]
        if held:
            lines.append(f"{label} of {', '.join(sorted(held))}")
    if actor.is_operator:
        lines.append("operator")
    return tuple(lines)


async def _alert_lines(session: AsyncSession, actor: Actor) -> tuple[tuple[AlertLine, ...], int]:
    """Security leads see their orgs' active alerts, operators every org's (unknown orgs included)."""
    lead_ids = actor.org_ids(Role.SECURITY_LEAD)
    if not (actor.is_operator or lead_ids):
        return (), 0
    scope: list[int] | None = None if actor.is_operator else lead_ids
    everything = actor.is_operator
    found = await alerts_q.list_active_alerts(session, org_ids=scope, include_unknown=everything, limit=MAX_ALERTS)
    total = await alerts_q.count_active_alerts(session, org_ids=scope, include_unknown=everything)
    orgs = await orgs_by_ids(session, org_ids={a.org_id for a in found if a.org_id is not None})
    lines = tuple(AlertLine(alert=a, org_name=orgs[a.org_id].name if a.org_id in orgs else None) for a in found)
    return lines, total


async def _counts(session: AsyncSession) -> HomeCounts:
    """Operators' overview: orgs, open requests, live grants and active alerts by severity, across all orgs."""
    return HomeCounts(
        orgs=await counts.count_orgs(session),
        requests_by_status=await counts.open_requests_by_status(session),
        grants_by_status=await counts.live_grants_by_status(session),
        alerts_by_severity=await counts.active_alerts_by_severity(session),
    )


async def _credit_lines(
    session: AsyncSession, *, orgs: dict[int, Org], today: date
) -> tuple[tuple[CreditLine, ...], int]:
    """The admin's orgs' credit grants (current and future first, then lapsed) with usage; at most `MAX_CREDITS`."""
    if not orgs:
        return (), 0
    grants = sorted(await credit_grants_of(session, org_ids=list(orgs)), key=lambda g: (g.expires, g.id))
    used = await credit_usage(session, credit_grants=grants)
    live = [g for g in grants if g.expires > today]  # already soonest expiry first
    lapsed = sorted((g for g in grants if g.expires <= today), key=lambda g: g.expires, reverse=True)
    lines = tuple(
        CreditLine(org_name=orgs[g.org_id].name, credit=g, used=used.get(g.id, Decimal(0)), lapsed=g.expires <= today)
        for g in (live + lapsed)[:MAX_CREDITS]
    )
    return lines, len(grants)
