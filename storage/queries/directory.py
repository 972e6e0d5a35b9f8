"""Queries over the directory: orgs, the roles people hold, tiers, program-wide state.

Keyword-only, async, never commit: the caller's transaction decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    AccessRequest,
    CreditGrant,
    DirectoryState,
    Grant,
    GrantStatus,
    Org,
    OrgRole,
    RequestStatus,
    Role,
    Tier,
)

_STATE_ID = 1
_PG_DIRECTORY_LOCK = 7_316_002  # advisory lock id serialising directory applies on PostgreSQL


async def lock_directory(session: AsyncSession) -> None:
    """Serialise directory writers until the transaction ends.

    Replicas apply `TRUSTBOT_DIRECTORY` at start, at the same moment; unserialised, both would
    insert the same new org and one would fail on the unique slug. SQLite transactions already
    hold the write lock (`BEGIN IMMEDIATE`); PostgreSQL takes a transaction-scoped advisory lock.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_DIRECTORY_LOCK})


async def get_org(session: AsyncSession, *, slug: str) -> Org | None:
    """The org with this slug, or None."""
    return (await session.scalars(select(Org).where(Org.slug == slug))).first()


async def get_org_by_id(session: AsyncSession, *, org_id: int) -> Org | None:
    """The org with this id, or None."""
    return await session.get(Org, org_id)


async def list_orgs(session: AsyncSession) -> list[Org]:
    """Every org, by slug."""
    return list((await session.scalars(select(Org).order_by(Org.slug))).all())


async def orgs_by_ids(session: AsyncSession, *, org_ids: Iterable[int]) -> dict[int, Org]:
    """The orgs with these ids, keyed by id (unknown ids are simply absent)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = (await session.scalars(select(Org).where(Org.id.in_(ids)))).all()  # type: ignore[union-attr]
    return {org.id: org for org in rows if org.id is not None}


async def get_tier(session: AsyncSession, *, tier_id: str) -> Tier | None:
    """The tier with this id, or None."""
    return await session.get(Tier, tier_id)


async def list_tiers(session: AsyncSession) -> list[Tier]:
    """Every tier, least to most capable."""
    return list((await session.scalars(select(Tier).order_by(Tier.rank, Tier.id))).all())


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


async def roles_of_org(session: AsyncSession, *, org_id: int) -> list[OrgRole]:
    """Every role row of one org, by role then position."""
    query = select(OrgRole).where(OrgRole.org_id == org_id).order_by(OrgRole.role, OrgRole.position, OrgRole.id)
    return list((await session.scalars(query)).all())


async def people_of(session: AsyncSession, *, org_id: int, role: Role) -> list[str]:
    """User ids holding `role` in the org, in directory order."""
    query = (
        select(OrgRole.user_id)
        .where(OrgRole.org_id == org_id, OrgRole.role == role.value)
        .order_by(OrgRole.position, OrgRole.id)
    )
    return list((await session.scalars(query)).all())


async def roles_of_user(session: AsyncSession, *, user_id: str) -> list[tuple[int, Role]]:
    """Every (org id, role) the user holds; roles the code does not know are skipped."""
    rows = (
        await session.execute(
            select(OrgRole.org_id, OrgRole.role)
            .where(OrgRole.user_id == user_id)
            .order_by(OrgRole.org_id, OrgRole.role)
        )
    ).all()
    known = {r.value for r in Role}
    return [(org_id, Role(role)) for org_id, role in rows if role in known]


async def orgs_with_roles(session: AsyncSession, *, org_ids: Iterable[int]) -> dict[int, dict[Role, list[str]]]:
    """For each org id: role → user ids in directory order (roles nobody holds are absent)."""
    ids = sorted(set(org_ids))
    result: dict[int, dict[Role, list[str]]] = {org_id: {} for org_id in ids}
    if not ids:
        return result
    known = {r.value for r in Role}
    rows = (
        await session.execute(
            select(OrgRole.org_id, OrgRole.role, OrgRole.user_id)
            .where(OrgRole.org_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(OrgRole.org_id, OrgRole.role, OrgRole.position, OrgRole.id)
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
    rows = (await session.execute(select(CreditGrant.id, CreditGrant.org_id).where(CreditGrant.id.in_(ids)))).all()  # type: ignore[attr-defined]
    return {credit_id: org_id for credit_id, org_id in rows}


async def tier_usage(session: AsyncSession, *, tier_id: str) -> tuple[int, int]:
    """(active or suspended grants, open requests) on the tier: what removing it would strand."""
    grants = await session.scalar(
        select(func.count())
        .select_from(Grant)
        .where(
            Grant.tier_id == tier_id,
            Grant.status.in_([GrantStatus.ACTIVE, GrantStatus.SUSPENDED]),  # type: ignore[attr-defined]
        )
    )
    requests = await session.scalar(
        select(func.count())
        .select_from(AccessRequest)
        .where(
            AccessRequest.tier_id == tier_id,
            AccessRequest.status.in_([RequestStatus.PENDING, RequestStatus.INFO_REQUESTED]),  # type: ignore[attr-defined]
        )
    )
    return int(grants or 0), int(requests or 0)
