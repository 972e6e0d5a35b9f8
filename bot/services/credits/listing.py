"""`/trust credits [org]`: which credit grants a person may see, with their balances."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.credits import CreditStatus
from trustbot.services.context import ServiceContext
from trustbot.services.credits.usage import credit_statuses
from trustbot.services.directory.people import ORG_VIEWERS, viewable_orgs
from trustbot.storage.queries.directory import credit_grants_of


@dataclass(frozen=True)
class CreditListing:
    """The credit grants shown, under a title."""

    title: str
    statuses: list[CreditStatus]


async def list_credits(session: AsyncSession, ctx: ServiceContext, *, org_slug: str | None) -> CreditListing:
    """Admins, reps and security leads see their orgs' credits, operators any org's."""
    ctx.actor.require_known("show credits")
    scope = await viewable_orgs(session, ctx.actor, roles=ORG_VIEWERS, org_slug=org_slug, what="credits")
    if scope.org is not None:
        title = f"Credits of {scope.org.name}"
    else:
        title = "Credits, all orgs" if scope.org_ids is None else "Credits of your orgs"
    grants = await credit_grants_of(session, org_ids=scope.org_ids)
    return CreditListing(title=title, statuses=await credit_statuses(session, credit_grants=grants, now=ctx.now()))
