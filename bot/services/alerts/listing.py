"""`/trust alerts [org]`: active alerts, low ones included, for security leads (their orgs) and operators."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import viewable_orgs
from trustbot.storage.queries import alerts as q
from trustbot.storage.queries.directory import get_org, orgs_by_ids
from trustbot.storage.tables import Alert, Role

UNKNOWN_ORG = "{slug} (unknown org)"


@dataclass(frozen=True)
class AlertListing:
    """The alerts shown, each with the name of its org, under a title."""

    title: str
    rows: list[tuple[Alert, str]]


async def _unknown_org_alerts(session: AsyncSession, slug: str) -> AlertListing:
    """Operators may list the alerts of a slug the directory lacks (they are posted to the default channel)."""
    alerts = [a for a in await q.list_active_alerts(session, org_ids=[], include_unknown=True) if a.org_slug == slug]
    return AlertListing(
        title=f"Open alerts for {slug}", rows=[(a, UNKNOWN_ORG.format(slug=a.org_slug)) for a in alerts]
    )


async def list_alerts(session: AsyncSession, ctx: ServiceContext, *, org_slug: str | None) -> AlertListing:
    """Active alerts of the orgs the actor leads security for (operators: every org, unknown ones included)."""
    ctx.actor.require_known("show alerts")
    slug = org_slug.strip().lower() if org_slug else None
    if slug and ctx.actor.is_operator and await get_org(session, slug=slug) is None:
        return await _unknown_org_alerts(session, slug)
    scope = await viewable_orgs(session, ctx.actor, roles=(Role.SECURITY_LEAD,), org_slug=slug, what="alerts")
    if scope.org is not None:
        title = f"Open alerts for {scope.org.name}"
    else:
        title = "Open alerts, all orgs" if scope.org_ids is None else "Open alerts for your orgs"
    alerts = await q.list_active_alerts(session, org_ids=scope.org_ids, include_unknown=scope.org_ids is None)
    orgs = await orgs_by_ids(session, org_ids={a.org_id for a in alerts if a.org_id is not None})
    rows = [(a, orgs[a.org_id].name if a.org_id in orgs else UNKNOWN_ORG.format(slug=a.org_slug)) for a in alerts]
    return AlertListing(title=title, rows=rows)
