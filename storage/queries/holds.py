"""Shared Signals bookkeeping: events already seen, the orgs that receive them, and identity holds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.dialect import upsert
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import IdentityHold, ScimAddress, ScimUser, SsfEventSeen


async def org_of_issuer(session: AsyncSession, *, issuer: str) -> Org | None:
    """The org whose IdP is `issuer`, if any."""
    return (await session.scalars(select(Org).where(col(Org.ssf_issuer) == issuer).limit(1))).first()


async def mark_seen(session: AsyncSession, *, issuer: str, jti: str, org_id: int, at: datetime) -> bool:
    """Record (`issuer`, `jti`); False when it was already there (a replay), safe under concurrent writers."""
    stmt = upsert(session, SsfEventSeen).values(issuer=issuer, jti=jti, org_id=org_id, received_at=at)
    result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["issuer", "jti"]))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def addresses_of_subject(session: AsyncSession, *, org_id: int, sub: str) -> list[str]:
    """The addresses of the org's SCIM user whose externalId or SCIM id is `sub`."""
    query = (
        select(col(ScimAddress.email))
        .join(ScimUser, col(ScimUser.id) == col(ScimAddress.user_id))
        .where(col(ScimUser.org_id) == org_id)
        .where((col(ScimUser.external_id) == sub) | (col(ScimUser.scim_id) == sub))
        .order_by(col(ScimAddress.email))
    )
    return list((await session.scalars(query)).all())


async def hold_in_force(session: AsyncSession, *, org_id: int, email: str, kind: str) -> IdentityHold | None:
    """The hold of `kind` in force on `email` at the org, if any."""
    query = select(IdentityHold).where(
        col(IdentityHold.org_id) == org_id,
        col(IdentityHold.email) == email,
        col(IdentityHold.kind) == kind,
        col(IdentityHold.lifted_at).is_(None),
    )
    return (await session.scalars(query.limit(1))).first()


async def get_hold(session: AsyncSession, *, hold_id: int) -> IdentityHold | None:
    """One hold by id."""
    return await session.get(IdentityHold, hold_id)


async def lift_holds(session: AsyncSession, *, hold_ids: Iterable[int], at: datetime, by: str) -> list[int]:
    """Lift these holds if still in force; returns the ids this call lifted (a concurrent lift wins once)."""
    lifted: list[int] = []
    for hold_id in sorted(set(hold_ids)):
        result = await session.execute(
            update(IdentityHold)
            .where(col(IdentityHold.id) == hold_id, col(IdentityHold.lifted_at).is_(None))
            .values(lifted_at=at, lifted_by=by)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            lifted.append(hold_id)
    return lifted


async def holds_of_kind(session: AsyncSession, *, org_id: int, emails: Iterable[str], kind: str) -> list[IdentityHold]:
    """The holds of `kind` in force on these addresses at the org."""
    query = select(IdentityHold).where(
        col(IdentityHold.org_id) == org_id,
        col(IdentityHold.email).in_(sorted(set(emails))),
        col(IdentityHold.kind) == kind,
        col(IdentityHold.lifted_at).is_(None),
    )
    return list((await session.scalars(query.order_by(col(IdentityHold.id)))).all())
