"""App Home: what one person sees when they open Trustbot's Home tab (DESIGN §5 "App Home").

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

Requests and grants come from `request_grants.list_status` (the same rules as `/trust status`),
alerts from `storage.queries.alerts.list_active_alerts` (the same as `/trust alerts`). Counts and
credits have no shared query yet, so the read-only, keyword-only queries below serve them.

Credit usage is attributed by `bot.services.credits.credit_usage`, the rule `/trust credits` and
the credit jobs share (a record naming a credit grant counts against it, else against the org's
grant covering that UTC day that expires first).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages.home import (
    MAX_ALERTS,
    MAX_CREDITS,
    AlertLine,
    CreditLine,
    HomeCounts,
    HomeData,
)
from bot.services.credits import credit_usage
from bot.services.people import Actor, resolve_actor
from bot.services.request_grants import list_status
from storage.queries import access as access_q
from storage.queries import alerts as alerts_q
from storage.queries.directory import list_orgs, orgs_by_ids
from storage.tables import (
    AccessRequest,
    Alert,
    CreditGrant,
    Grant,
    Org,
    Role,
)

_REP_ROLES = (Role.REP, Role.BACKUP_REP)


async def build_home(
    session: AsyncSession,
    *,
    user_id: str,
    operators: list[str],
    tz: tzinfo | str,
    now: datetime,
) -> HomeData:
    """Everything the user's Home tab shows, by role; nothing of any org for unknown users."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(operators))
    if not actor.is_known:
        return HomeData(user_id=user_id, known=False, now=now)

    admin_ids = actor.org_ids(Role.ADMIN)
    rep_ids = actor.org_ids(*_REP_ROLES)
    lead_ids = actor.org_ids(Role.SECURITY_LEAD)
    names = await orgs_by_ids(session, org_ids=actor.org_ids())

    admin_requests: tuple = ()
    admin_grants: tuple = ()
    awaiting: tuple = ()
    if admin_ids or rep_ids or actor.is_operator:
        report = await list_status(session, user_id=user_id, operators=operators)
        admin_set = set(admin_ids)
        admin_requests = tuple(r for r in report.open_requests if r.request.org_id in admin_set)
        admin_grants = tuple(g for g in report.grants if g.grant.org_id in admin_set)
        awaiting = report.awaiting_me

    credits: tuple[CreditLine, ...] = ()
    credits_total = 0
    if admin_ids:
        credits, credits_total = await _credit_lines(
            session, orgs={i: names[i] for i in admin_ids if i in names}, today=now.date()
        )

    alerts: tuple[AlertLine, ...] = ()
    alerts_total = 0
    show_alerts = actor.is_operator or bool(lead_ids)
    if show_alerts:
        scope: list[int] | None = None if actor.is_operator else lead_ids
        found = await alerts_q.list_active_alerts(
            session, org_ids=scope, include_unknown=actor.is_operator, limit=MAX_ALERTS
        )
        alerts_total = await count_active_alerts(session, org_ids=scope, include_unknown=actor.is_operator)
        alert_orgs = await orgs_by_ids(session, org_ids={a.org_id for a in found if a.org_id is not None})
        alerts = tuple(
            AlertLine(alert=a, org_name=alert_orgs[a.org_id].name if a.org_id in alert_orgs else None) for a in found
        )

    return HomeData(
        user_id=user_id,
        known=True,
        now=now,
        is_operator=actor.is_operator,
        roles=_role_lines(actor, names),
        admin_org_names=tuple(names[i].name for i in admin_ids if i in names),
        admin_requests=admin_requests,
        admin_grants=admin_grants,
        credits=credits,
        credits_total=credits_total,
        is_rep=bool(rep_ids),
        awaiting=awaiting,
        show_alerts=show_alerts,
        alerts=alerts,
        alerts_total=alerts_total,
        counts=await count_everything(session) if actor.is_operator else None,
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


# -- read-only queries (keyword-only, never commit) --------------------------------------------


async def count_active_alerts(session: AsyncSession, *, org_ids: Iterable[int] | None, include_unknown: bool) -> int:
    """How many alerts `list_active_alerts` would list without its limit."""
    query = select(func.count()).select_from(Alert).where(Alert.status.in_(alerts_q.ACTIVE_ALERT_STATUSES))  # type: ignore[attr-defined]
    if org_ids is not None:
        ids = list(org_ids)
        cond = Alert.org_id.in_(ids) if ids else None  # type: ignore[union-attr]
        if include_unknown:
            cond = Alert.org_id.is_(None) if cond is None else (cond | Alert.org_id.is_(None))  # type: ignore[union-attr]
        if cond is None:
            return 0
        query = query.where(cond)
    return int(await session.scalar(query) or 0)


async def count_everything(session: AsyncSession) -> HomeCounts:
    """Operators' overview: orgs, open requests, live grants and active alerts by severity, across all orgs."""
    requests = dict(
        (
            await session.execute(
                select(AccessRequest.status, func.count())
                .where(AccessRequest.status.in_(access_q.OPEN_REQUEST_STATUSES))  # type: ignore[attr-defined]
                .group_by(AccessRequest.status)
            )
        ).all()
    )
    grants = dict(
        (
            await session.execute(
                select(Grant.status, func.count())
                .where(Grant.status.in_(access_q.LIVE_GRANT_STATUSES))  # type: ignore[attr-defined]
                .group_by(Grant.status)
            )
        ).all()
    )
    alerts = dict(
        (
            await session.execute(
                select(Alert.severity, func.count())
                .where(Alert.status.in_(alerts_q.ACTIVE_ALERT_STATUSES))  # type: ignore[attr-defined]
                .group_by(Alert.severity)
            )
        ).all()
    )
    return HomeCounts(
        orgs=len(await list_orgs(session)),
        requests_by_status={str(k): int(v) for k, v in requests.items()},
        grants_by_status={str(k): int(v) for k, v in grants.items()},
        alerts_by_severity={str(k): int(v) for k, v in alerts.items()},
    )


async def _credit_lines(
    session: AsyncSession, *, orgs: dict[int, Org], today: date
) -> tuple[tuple[CreditLine, ...], int]:
    """The admin's orgs' credit grants (current and future first, then lapsed) with usage; at most `MAX_CREDITS` loaded."""
    if not orgs:
        return (), 0
    grants = list(
        (
            await session.scalars(
                select(CreditGrant)
                .where(CreditGrant.org_id.in_(list(orgs)))
                .order_by(CreditGrant.expires, CreditGrant.id)  # type: ignore[attr-defined]
            )
        ).all()
    )
    used = await credit_usage(session, credit_grants=grants)
    live = [g for g in grants if g.expires > today]  # already soonest expiry first
    lapsed = sorted((g for g in grants if g.expires <= today), key=lambda g: g.expires, reverse=True)
    ordered = live + lapsed
    lines = tuple(
        CreditLine(org_name=orgs[g.org_id].name, credit=g, used=used.get(g.id, Decimal(0)), lapsed=g.expires <= today)
        for g in ordered[:MAX_CREDITS]
    )
    return lines, len(grants)
