"""Queries behind the entitlements API and grant change events. Keyword-only, async, never commit.

An address is answered with indexed lookups only: its domain in `org_domain` (the org, and the
blanket grants of that org) and the address in `grant_member` (grants naming it), so the cost of
a question does not grow with the number of grants. `/v1/grants` pages by `(updated_at, id)`,
which the composite index `ix_access_grant_changes` serves in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.chunks import chunks
from trustbot.storage.queries.requests import of_workspace
from trustbot.storage.tables import LIVE_GRANTS, AccessRequest, Grant, GrantMember, Org, OrgDomain

# The most ended grants (revoked, expired, denied…) one address is answered with, besides every live
# one: more would only be the same people's history.
MAX_GRANTS_PER_ADDRESS = 50


async def orgs_for_domain(session: AsyncSession, *, domain: str) -> list[Org]:
    """Orgs that list `domain` (lower case) among their verified domains, by slug."""
    query = (
        select(Org)
        .join(OrgDomain, col(OrgDomain.org_id) == col(Org.id))
        .where(col(OrgDomain.domain) == domain)
        .order_by(col(Org.slug))
    )
    return list((await session.scalars(query)).all())


async def grants_for_address(session: AsyncSession, *, email: str, org_ids: Sequence[int]) -> list[Grant]:
    """Grants naming `email`, and blanket grants of `org_ids`, newest first: every live one, and the
    newest `MAX_GRANTS_PER_ADDRESS` ended ones (so a long history never hides an active grant)."""
    named = select(col(GrantMember.grant_id)).where(col(GrantMember.email) == email)
    where: ColumnElement[bool] = col(Grant.id).in_(named)
    if org_ids:
        where = or_(where, and_(col(Grant.org_id).in_(list(org_ids)), col(Grant.blanket).is_(True)))
    live = select(Grant).where(where, col(Grant.status).in_(LIVE_GRANTS))
    ended = (
        select(Grant)
        .where(where, col(Grant.status).not_in(LIVE_GRANTS))
        .order_by(col(Grant.id).desc())
        .limit(MAX_GRANTS_PER_ADDRESS)
    )
    found = [*(await session.scalars(live)).all(), *(await session.scalars(ended)).all()]
    return sorted(found, key=lambda g: g.pk, reverse=True)


async def member_emails(session: AsyncSession, *, grant_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """For each grant: its named members' recorded emails (slack id -> address)."""
    found: dict[int, dict[str, str]] = {}
    for chunk in chunks(sorted(set(grant_ids))):
        rows = await session.execute(
            select(col(GrantMember.grant_id), col(GrantMember.slack_id), col(GrantMember.email)).where(
                col(GrantMember.grant_id).in_(chunk)
            )
        )
        for grant_id, slack_id, email in rows.all():
            found.setdefault(int(grant_id), {})[str(slack_id)] = str(email)
    return found


async def page_grants(
    session: AsyncSession,
    *,
    org_id: int | None,
    status: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Grant]:
    """Grants in change order (`updated_at`, then id) after the `after` position; at most `limit`."""
    query = select(Grant)
    if org_id is not None:
        query = query.where(col(Grant.org_id) == org_id)
    if status is not None:
        query = query.where(col(Grant.status) == status)
    if updated_since is not None:
        query = query.where(col(Grant.updated_at) >= updated_since)
    if after is not None:
        at, grant_id = after
        query = query.where(
            or_(col(Grant.updated_at) > at, and_(col(Grant.updated_at) == at, col(Grant.id) > grant_id))
        )
    query = query.order_by(col(Grant.updated_at), col(Grant.id)).limit(limit)
    return list((await session.scalars(query)).all())


async def touch_grants(session: AsyncSession, *, grant_ids: Sequence[int], at: datetime) -> None:
    """Record that these grants changed at `at` (the order `/v1/grants` pages by).

    The rows are locked in id order first: an UPDATE … IN walks them in storage order, which PostgreSQL changes
    with every update, so two SCIM writes touching the same grants deadlocked (seen in bench/scim_sync.py)."""
    for chunk in chunks(sorted(set(grant_ids))):
        await session.execute(
            select(col(Grant.id)).where(col(Grant.id).in_(chunk)).order_by(col(Grant.id)).with_for_update()
        )
        await session.execute(
            update(Grant)
            .where(col(Grant.id).in_(chunk))
            .values(updated_at=at)
            .execution_options(synchronize_session=False)
        )


async def add_members(session: AsyncSession, *, grant_id: int, emails: Mapping[str, str]) -> None:
    """Record the named members of a new grant with their emails."""
    for slack_id, email in emails.items():
        session.add(GrantMember(grant_id=grant_id, slack_id=slack_id, email=email))
    await session.flush()


async def upsert_members(session: AsyncSession, *, grant_id: int, emails: Mapping[str, str]) -> None:
    """Record (or correct) the emails of named members of a grant."""
    for slack_id, email in emails.items():
        await session.merge(GrantMember(grant_id=grant_id, slack_id=slack_id, email=email))
    await session.flush()


async def keep_members(session: AsyncSession, *, grant_id: int, slack_ids: Sequence[str]) -> None:
    """Forget the recorded members of a grant that are not in `slack_ids`."""
    await session.execute(
        delete(GrantMember).where(
            col(GrantMember.grant_id) == grant_id, col(GrantMember.slack_id).not_in(list(slack_ids))
        )
    )


async def live_grants_naming(session: AsyncSession, *, slack_id: str, team: str | None) -> list[tuple[Grant, str]]:
    """Active and suspended grants naming this person of workspace `team` (None: home), with the email recorded
    for them there; a grant's members are people of its requester's workspace."""
    query = (
        select(Grant, col(GrantMember.email))
        .join(GrantMember, col(GrantMember.grant_id) == col(Grant.id))
        .join(AccessRequest, col(AccessRequest.id) == col(Grant.request_id))
        .where(
            col(GrantMember.slack_id) == slack_id,
            col(Grant.status).in_(LIVE_GRANTS),
            of_workspace(team),
        )
        .order_by(col(Grant.id))
    )
    return [(grant, str(email)) for grant, email in (await session.execute(query)).all()]


async def set_member_email(session: AsyncSession, *, grant_ids: Sequence[int], slack_id: str, email: str) -> None:
    """Record a member's new address (still at the org's domains) on these grants."""
    await session.execute(
        update(GrantMember)
        .where(col(GrantMember.grant_id).in_(list(grant_ids)), col(GrantMember.slack_id) == slack_id)
        .values(email=email)
    )


async def set_org_domains(session: AsyncSession, *, org_id: int, domains: Iterable[str]) -> None:
    """Make `org_domain` hold exactly these domains (lower case) for the org."""
    await session.execute(delete(OrgDomain).where(col(OrgDomain.org_id) == org_id))
    for domain in sorted({d.lower() for d in domains}):
        session.add(OrgDomain(domain=domain, org_id=org_id))
    await session.flush()
