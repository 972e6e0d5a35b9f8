"""Queries over the directory: orgs, the roles people hold, tiers, program-wide state.

Keyword-only, async, never commit: the caller's transaction decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.dialect import Lock, take_lock
from trustbot.storage.tables import (
    LIVE_GRANTS,
    OPEN_REQUESTS,
    AccessRequest,
    CreditGrant,
    DirectoryState,
    Grant,
    Org,
    OrgRole,
    Role,
    Tier,
)

_STATE_ID = 1


async def lock_directory(session: AsyncSession) -> None:
    """Serialise directory writers until the transaction ends.

    Replicas apply `TRUSTBOT_DIRECTORY` at start, at the same moment; unserialised, both would
    insert the same new org and one would fail on the unique slug. SQLite transactions already
    hold the write lock (`BEGIN IMMEDIATE`); PostgreSQL takes a transaction-scoped advisory lock.
    """
    await take_lock(session, Lock.DIRECTORY)


async def get_org(session: AsyncSession, *, slug: str) -> Org | None:
    """The org with this slug, or None."""
    return (await session.scalars(select(Org).where(col(Org.slug) == slug))).first()


async def get_org_by_id(session: AsyncSession, *, org_id: int) -> Org | None:
    """The org with this id, or None."""
    return await session.get(Org, org_id)


async def list_orgs(session: AsyncSession) -> list[Org]:
    """Every org, by slug."""
    return list((await session.scalars(select(Org).order_by(col(Org.slug)))).all())


async def orgs_by_ids(session: AsyncSession, *, org_ids: Iterable[int]) -> dict[int, Org]:
    """The orgs with these ids, keyed by id (unknown ids are simply absent)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = (await session.scalars(select(Org).where(col(Org.id).in_(ids)))).all()
    return {org.pk: org for org in rows}


async def get_tier(session: AsyncSession, *, tier_id: str) -> Tier | None:
    """The tier with this id, or None."""
    return await session.get(Tier, tier_id)


async def list_tiers(session: AsyncSession) -> list[Tier]:
    """Every tier, least to most capable."""
    return list((await session.scalars(select(Tier).order_by(col(Tier.rank), col(Tier.id)))).all())


async def get_directory_state(session: AsyncSession, *, create: bool = False) -> DirectoryState:
    """The single program-wide state row.

    When it does not exist yet, a blank one is returned; with `create` it is also added to
    the session (readers never write, so two read-only sessions cannot race to insert it).
    """
    state = await session.get(DirectoryState, _STATE_ID)
    if state is None:
        state = DirectoryState(id=_STATE_ID, operators=[])
        if create:
            session.add(state)
            await session.flush()
    return state


async def roles_of_user(session: AsyncSession, *, user_id: str) -> list[tuple[int, Role, str | None]]:
    """Every (org id, role, the org's `slack_team`) the user id holds; roles the code does not know are skipped."""
    rows = (
        await session.execute(
            select(col(OrgRole.org_id), col(OrgRole.role), col(Org.slack_team))
            .join(Org, col(Org.id) == col(OrgRole.org_id))
            .where(col(OrgRole.user_id) == user_id)
            .order_by(col(OrgRole.org_id), col(OrgRole.role))
        )
    ).all()
    known = {r.value for r in Role}
    return [(org_id, Role(role), team) for org_id, role, team in rows if role in known]


async def orgs_with_roles(session: AsyncSession, *, org_ids: Iterable[int]) -> dict[int, dict[Role, list[str]]]:
    """For each org id: role → user ids in directory order (roles nobody holds are absent)."""
    ids = sorted(set(org_ids))
    result: dict[int, dict[Role, list[str]]] = {org_id: {} for org_id in ids}
    if not ids:
        return result
    known = {r.value for r in Role}
    rows = (
        await session.execute(
            select(col(OrgRole.org_id), col(OrgRole.role), col(OrgRole.user_id))
            .where(col(OrgRole.org_id).in_(ids))
            .order_by(col(OrgRole.org_id), col(OrgRole.role), col(OrgRole.position), col(OrgRole.id))
        )
    ).all()
    for org_id, role, user_id in rows:
        if role in known:
            result[org_id].setdefault(Role(role), []).append(user_id)
    return result


async def credit_owners(session: AsyncSession, *, credit_ids: Iterable[str]) -> dict[str, int]:
    """Credit grant id → owning org id, for the ids that exist."""
    ids = sorted(set(credit_ids))
    if not ids:
        return {}
    rows = (
        await session.execute(select(col(CreditGrant.id), col(CreditGrant.org_id)).where(col(CreditGrant.id).in_(ids)))
    ).all()
    return {credit_id: org_id for credit_id, org_id in rows}


async def tier_usage(session: AsyncSession, *, tier_id: str) -> tuple[int, int]:
    """(active or suspended grants, open requests) on the tier: what removing it would strand."""
    grants = await session.scalar(
        select(func.count())
        .select_from(Grant)
        .where(
            col(Grant.tier_id) == tier_id,
            col(Grant.status).in_(LIVE_GRANTS),
        )
    )
    requests = await session.scalar(
        select(func.count())
        .select_from(AccessRequest)
        .where(
            col(AccessRequest.tier_id) == tier_id,
            col(AccessRequest.status).in_(OPEN_REQUESTS),
        )
    )
    return int(grants or 0), int(requests or 0)


async def count_tiers(session: AsyncSession) -> int:
    """How many tiers are defined."""
    return int(await session.scalar(select(func.count()).select_from(Tier)) or 0)


async def clear_roles(session: AsyncSession, *, org_id: int) -> None:
    """Delete every role row of one org at once.

    A bulk DELETE runs immediately; deleting ORM rows could be flushed after re-inserted roles
    and trip the (org, user, role) unique constraint.
    """
    await session.execute(delete(OrgRole).where(col(OrgRole.org_id) == org_id))


async def credit_grants_of(session: AsyncSession, *, org_ids: Iterable[int] | None) -> list[CreditGrant]:
    """Credit grants of these orgs (None: every org), by org, soonest expiry first."""
    query = select(CreditGrant).order_by(col(CreditGrant.org_id), col(CreditGrant.expires), col(CreditGrant.id))
    if org_ids is not None:
        query = query.where(col(CreditGrant.org_id).in_(sorted(set(org_ids))))
    return list((await session.scalars(query)).all())


async def orgs_by_slugs(session: AsyncSession, *, slugs: Iterable[str]) -> dict[str, Org]:
    """The orgs among `slugs`, keyed by slug (unknown slugs are simply absent)."""
    wanted = sorted(set(slugs))
    if not wanted:
        return {}
    rows = (await session.scalars(select(Org).where(col(Org.slug).in_(wanted)))).all()
    return {org.slug: org for org in rows}


async def orgs_verified_until(session: AsyncSession, *, on_or_before: date) -> list[Org]:
    """Orgs whose `verified_until` is set and on or before the given day."""
    verified = col(Org.verified_until)
    query = select(Org).where(verified.is_not(None), verified <= on_or_before).order_by(col(Org.id))
    return list((await session.scalars(query)).all())


async def configured_channels(session: AsyncSession, *, also: Iterable[str | None] = ()) -> set[str]:
    """Every channel the directory names (reps, default security, orgs' security and Connect channels), plus `also`."""
    state = await get_directory_state(session)
    channels = {c for c in (state.reps_channel, state.security_channel, *also) if c}
    rows = await session.execute(select(col(Org.security_channel), col(Org.connect_channel)))
    return channels | {c for row in rows.all() for c in row if c}


async def org_security_channels(session: AsyncSession) -> list[tuple[Org, str]]:
    """Each org that names a security channel, with that channel."""
    orgs = (await session.scalars(select(Org).where(col(Org.security_channel).is_not(None)))).all()
    return [(org, org.security_channel) for org in orgs if org.security_channel]
