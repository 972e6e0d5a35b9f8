"""SCIM tokens, users, addresses, groups and members: always within one org."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.chunks import chunks
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import ScimAddress, ScimGroup, ScimMember, ScimToken, ScimUser


async def org_by_token_hash(session: AsyncSession, *, token_sha256: str) -> tuple[Org, str] | None:
    """The org whose SCIM token has this SHA-256, and the stored hash, or None."""
    row = (
        await session.execute(
            select(Org, col(ScimToken.token_sha256))
            .join(ScimToken, col(ScimToken.org_id) == col(Org.id))
            .where(col(ScimToken.token_sha256) == token_sha256)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def replace_token(session: AsyncSession, *, org_id: int, token_sha256: str, at: datetime) -> None:
    """Make this the org's one SCIM token, dropping any older one."""
    await session.execute(delete(ScimToken).where(col(ScimToken.org_id) == org_id))
    session.add(ScimToken(org_id=org_id, token_sha256=token_sha256, created_at=at))
    await session.flush()


async def get_user(session: AsyncSession, *, org_id: int, scim_id: str) -> ScimUser | None:
    """The org's user with this SCIM id, or None (another org's id is None too)."""
    return (
        await session.scalars(select(ScimUser).where(col(ScimUser.org_id) == org_id, col(ScimUser.scim_id) == scim_id))
    ).first()


async def user_name_taken(session: AsyncSession, *, org_id: int, user_name_lc: str, other_than: int | None) -> bool:
    """Whether another user of the org has this (lower-cased) userName."""
    stmt = select(col(ScimUser.id)).where(col(ScimUser.org_id) == org_id, col(ScimUser.user_name_lc) == user_name_lc)
    if other_than is not None:
        stmt = stmt.where(col(ScimUser.id) != other_than)
    return (await session.scalars(stmt)).first() is not None


async def any_user(session: AsyncSession, *, org_id: int) -> bool:
    """Whether the org has any SCIM user."""
    return (
        await session.scalars(select(col(ScimUser.id)).where(col(ScimUser.org_id) == org_id).limit(1))
    ).first() is not None


async def search_users(
    session: AsyncSession, *, org_id: int, where: ColumnElement[bool] | None, offset: int, limit: int
) -> tuple[int, list[ScimUser]]:
    """The org's users matching `where`: their total and one page, oldest first."""
    base = select(ScimUser).where(col(ScimUser.org_id) == org_id)
    if where is not None:
        base = base.where(where)
    total = (await session.scalar(select(func.count()).select_from(base.subquery()))) or 0
    rows = await session.scalars(base.order_by(col(ScimUser.id)).offset(offset).limit(limit))
    return total, list(rows)


async def set_addresses(session: AsyncSession, *, user: ScimUser, emails: Sequence[str]) -> None:
    """Replace the user's addresses."""
    assert user.id is not None
    await session.execute(delete(ScimAddress).where(col(ScimAddress.user_id) == user.id))
    for email in sorted(set(emails)):
        session.add(ScimAddress(user_id=user.id, email=email, org_id=user.org_id))
    await session.flush()


async def addresses_of(session: AsyncSession, *, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each user's addresses."""
    out: dict[int, list[str]] = {}
    for part in chunks(list(user_ids)):
        rows = await session.execute(
            select(col(ScimAddress.user_id), col(ScimAddress.email)).where(col(ScimAddress.user_id).in_(part))
        )
        for uid, email in rows:
            out.setdefault(uid, []).append(email)
    return out


async def delete_user(session: AsyncSession, *, user: ScimUser) -> None:
    """Delete the user, its addresses and its memberships."""
    await session.execute(delete(ScimAddress).where(col(ScimAddress.user_id) == user.id))
    await session.execute(delete(ScimMember).where(col(ScimMember.user_id) == user.id))
    await session.delete(user)
    await session.flush()


async def get_group(session: AsyncSession, *, org_id: int, scim_id: str) -> ScimGroup | None:
    """The org's group with this SCIM id, or None."""
    return (
        await session.scalars(
            select(ScimGroup).where(col(ScimGroup.org_id) == org_id, col(ScimGroup.scim_id) == scim_id)
        )
    ).first()


async def search_groups(
    session: AsyncSession, *, org_id: int, where: ColumnElement[bool] | None, offset: int, limit: int
) -> tuple[int, list[ScimGroup]]:
    """The org's groups matching `where`: their total and one page."""
    base = select(ScimGroup).where(col(ScimGroup.org_id) == org_id)
    if where is not None:
        base = base.where(where)
    total = (await session.scalar(select(func.count()).select_from(base.subquery()))) or 0
    rows = await session.scalars(base.order_by(col(ScimGroup.id)).offset(offset).limit(limit))
    return total, list(rows)


async def users_by_scim_ids(session: AsyncSession, *, org_id: int, scim_ids: Sequence[str]) -> dict[str, ScimUser]:
    """The org's users among these SCIM ids (other orgs' ids are simply absent)."""
    out: dict[str, ScimUser] = {}
    for part in chunks(sorted(set(scim_ids))):
        rows = await session.scalars(
            select(ScimUser).where(col(ScimUser.org_id) == org_id, col(ScimUser.scim_id).in_(part))
        )
        out.update({u.scim_id: u for u in rows})
    return out


async def member_rows(session: AsyncSession, *, group_id: int) -> list[tuple[int, str, str]]:
    """The group's members: (user pk, SCIM id, userName)."""
    rows = await session.execute(
        select(col(ScimUser.id), col(ScimUser.scim_id), col(ScimUser.user_name))
        .join(ScimMember, col(ScimMember.user_id) == col(ScimUser.id))
        .where(col(ScimMember.group_id) == group_id)
        .order_by(col(ScimUser.id))
    )
    return [(r[0] or 0, r[1], r[2]) for r in rows]


async def add_members(session: AsyncSession, *, group_id: int, user_ids: Sequence[int]) -> None:
    """Add these users to the group (the caller passes only those not yet in it)."""
    rows: list[dict[str, Any]] = [{"group_id": group_id, "user_id": u} for u in user_ids]
    for part in chunks(rows):
        await session.execute(ScimMember.__table__.insert(), part)  # type: ignore[attr-defined]


async def remove_members(session: AsyncSession, *, group_id: int, user_ids: Sequence[int]) -> None:
    """Remove these users from the group."""
    for part in chunks(list(user_ids)):
        await session.execute(
            delete(ScimMember).where(col(ScimMember.group_id) == group_id, col(ScimMember.user_id).in_(part))
        )


async def delete_group(session: AsyncSession, *, group: ScimGroup) -> None:
    """Delete the group and its memberships."""
    await session.execute(delete(ScimMember).where(col(ScimMember.group_id) == group.id))
    await session.delete(group)
    await session.flush()
