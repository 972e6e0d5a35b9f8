"""Queries behind the IdP's say on coverage: who an address is at an org's IdP, holds on it, the grants a change
touches, and the changes waiting for the admins' digest. Keyword-only, async, never commit.

SCIM resources themselves (create, filter, patch…) are read and written in `trustbot.storage.queries.scim`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.chunks import chunks
from trustbot.storage.tables import (
    LIVE_GRANTS,
    AccessRequest,
    Grant,
    GrantMember,
    IdentityChange,
    IdentityHold,
    ScimAddress,
    ScimGroup,
    ScimMember,
    ScimUser,
)


@dataclass(frozen=True)
class Standing:
    """What an org's IdP says of one address: whether it provisioned it, whether active, and its groups."""

    provisioned: bool
    active: bool
    group_ids: frozenset[int]


async def standing_of(session: AsyncSession, *, org_ids: Sequence[int], email: str) -> dict[int, Standing]:
    """For each of `org_ids` that provisioned users by SCIM: what its IdP says of `email` (lower case)."""
    if not org_ids:
        return {}
    users = (
        await session.execute(
            select(col(ScimUser.id), col(ScimUser.org_id), col(ScimUser.active))
            .join(ScimAddress, col(ScimAddress.user_id) == col(ScimUser.id))
            .where(col(ScimAddress.org_id).in_(list(org_ids)), col(ScimAddress.email) == email)
        )
    ).all()
    groups: dict[int, set[int]] = {}
    if users:
        rows = await session.execute(
            select(col(ScimMember.user_id), col(ScimMember.group_id)).where(
                col(ScimMember.user_id).in_([u for u, _, _ in users])
            )
        )
        for member, group_id in rows.all():
            groups.setdefault(int(member), set()).add(int(group_id))
    found: dict[int, Standing] = {}
    for user_id, org_id, active in users:
        if user_id is None:
            continue
        # Two users of one org sharing an address: active if either is, in the groups of the active ones.
        old = found.get(int(org_id))
        mine = frozenset(groups.get(int(user_id), set())) if active else frozenset()
        if old is None:
            found[int(org_id)] = Standing(provisioned=True, active=bool(active), group_ids=mine)
        else:
            found[int(org_id)] = Standing(True, old.active or bool(active), old.group_ids | mine)
    return found


async def holds_on(session: AsyncSession, *, org_ids: Sequence[int], email: str) -> list[IdentityHold]:
    """The holds in force on `email` (lower case) at these orgs, oldest first."""
    if not org_ids:
        return []
    query = (
        select(IdentityHold)
        .where(
            col(IdentityHold.org_id).in_(list(org_ids)),
            col(IdentityHold.email) == email,
            col(IdentityHold.lifted_at).is_(None),
        )
        .order_by(col(IdentityHold.id))
    )
    return list((await session.scalars(query)).all())


async def holds_for_emails(session: AsyncSession, *, org_id: int, emails: Iterable[str]) -> dict[str, IdentityHold]:
    """The oldest hold in force on each of these addresses (lower case) at one org."""
    found: dict[str, IdentityHold] = {}
    for chunk in chunks(sorted(set(emails))):
        query = (
            select(IdentityHold)
            .where(
                col(IdentityHold.org_id) == org_id,
                col(IdentityHold.email).in_(chunk),
                col(IdentityHold.lifted_at).is_(None),
            )
            .order_by(col(IdentityHold.id))
        )
        for hold in (await session.scalars(query)).all():
            found.setdefault(hold.email, hold)
    return found


async def grants_of_groups(session: AsyncSession, *, group_ids: Iterable[int]) -> list[Grant]:
    """Live grants covering one of these IdP groups."""
    ids = sorted(set(group_ids))
    if not ids:
        return []
    query = select(Grant).where(col(Grant.scim_group_id).in_(ids), col(Grant.status).in_(LIVE_GRANTS))
    return list((await session.scalars(query)).all())


async def live_grants_touching(
    session: AsyncSession, *, org_id: int, emails: Iterable[str], group_ids: Iterable[int], everyone: bool
) -> list[int]:
    """Ids of the org's live grants a change of these addresses or groups may touch: blanket ones, those naming
    an address, and those covering one of the groups or a group of an address's user (every one: `everyone`)."""
    addresses = sorted(set(emails))
    where: list[ColumnElement[bool]] = [col(Grant.blanket).is_(True)]
    if everyone:
        where = [col(Grant.id).is_not(None)]
    for chunk in chunks(addresses):
        where.append(col(Grant.id).in_(select(col(GrantMember.grant_id)).where(col(GrantMember.email).in_(chunk))))
        of_org = col(ScimAddress.org_id) == org_id
        users = select(col(ScimAddress.user_id)).where(of_org, col(ScimAddress.email).in_(chunk))
        where.append(
            col(Grant.scim_group_id).in_(select(col(ScimMember.group_id)).where(col(ScimMember.user_id).in_(users)))
        )
    groups = sorted(set(group_ids))
    if groups:
        where.append(col(Grant.scim_group_id).in_(groups))
    query = select(col(Grant.id)).where(col(Grant.org_id) == org_id, col(Grant.status).in_(LIVE_GRANTS), or_(*where))
    return sorted(int(i) for i in (await session.scalars(query)).all() if i is not None)


async def group_member_emails(
    session: AsyncSession, *, group_ids: Iterable[int], email: str | None = None
) -> dict[int, dict[str, bool]]:
    """For each IdP group: its users' addresses (lower case; only `email` when given), each with whether the user
    is active."""
    found: dict[int, dict[str, bool]] = {}
    for chunk in chunks(sorted(set(group_ids))):
        query = (
            select(col(ScimMember.group_id), col(ScimAddress.email), col(ScimUser.active))
            .join(ScimUser, col(ScimUser.id) == col(ScimMember.user_id))
            .join(ScimAddress, col(ScimAddress.user_id) == col(ScimUser.id))
            .where(col(ScimMember.group_id).in_(chunk))
        )
        rows = await session.execute(query if email is None else query.where(col(ScimAddress.email) == email))
        for group_id, email, active in rows.all():
            members = found.setdefault(int(group_id), {})
            members[str(email)] = members.get(str(email), False) or bool(active)
    return found


async def groups_by_ids(session: AsyncSession, *, group_ids: Iterable[int]) -> dict[int, ScimGroup]:
    """IdP groups by id."""
    found: dict[int, ScimGroup] = {}
    for chunk in chunks(sorted(set(group_ids))):
        for group in (await session.scalars(select(ScimGroup).where(col(ScimGroup.id).in_(chunk)))).all():
            found[group.pk] = group
    return found


def keep_changes(
    session: AsyncSession, *, org_id: int, at: datetime, changes: Iterable[tuple[str, str | None, str | None]]
) -> None:
    """Keep (kind, email, detail) changes for the org admins' next digest."""
    for kind, email, detail in changes:
        session.add(IdentityChange(org_id=org_id, kind=kind, email=email, detail=detail, at=at))


async def orgs_with_pending_changes(session: AsyncSession, *, quiet_since: datetime) -> list[int]:
    """Orgs with undigested changes and none newer than `quiet_since`: their burst is over."""
    query = (
        select(col(IdentityChange.org_id))
        .where(col(IdentityChange.digested_at).is_(None))
        .group_by(col(IdentityChange.org_id))
        .having(func.max(col(IdentityChange.at)) <= quiet_since)
    )
    return sorted(int(o) for o in (await session.scalars(query)).all())


async def pending_changes(session: AsyncSession, *, org_id: int) -> list[IdentityChange]:
    """The org's undigested changes, oldest first, locked against a second digest of them."""
    query = (
        select(IdentityChange)
        .where(col(IdentityChange.org_id) == org_id, col(IdentityChange.digested_at).is_(None))
        .order_by(col(IdentityChange.id))
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def mark_digested(session: AsyncSession, *, change_ids: Sequence[int], at: datetime) -> int:
    """Mark these changes as told; returns how many were still pending (a replica may have told them first)."""
    done = 0
    for chunk in chunks(sorted(set(change_ids))):
        result = await session.execute(
            update(IdentityChange)
            .where(col(IdentityChange.id).in_(chunk), col(IdentityChange.digested_at).is_(None))
            .values(digested_at=at)
            .execution_options(synchronize_session=False)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


async def active_by_email(session: AsyncSession, *, org_id: int, emails: Iterable[str]) -> dict[str, bool]:
    """For each of these addresses (lower case) the org's IdP provisioned: whether a user holding it is active."""
    found: dict[str, bool] = {}
    for chunk in chunks(sorted(set(emails))):
        rows = await session.execute(
            select(col(ScimAddress.email), col(ScimUser.active))
            .join(ScimUser, col(ScimUser.id) == col(ScimAddress.user_id))
            .where(col(ScimAddress.org_id) == org_id, col(ScimAddress.email).in_(chunk))
        )
        for email, active in rows.all():
            found[str(email)] = found.get(str(email), False) or bool(active)
    return found


async def groups_of_orgs(session: AsyncSession, *, org_ids: Iterable[int], limit: int) -> list[ScimGroup]:
    """The IdP groups of these orgs by name, at most `limit`."""
    ids = sorted(set(org_ids))
    if not ids:
        return []
    query = (
        select(ScimGroup)
        .where(col(ScimGroup.org_id).in_(ids))
        .order_by(col(ScimGroup.display_name_lc), col(ScimGroup.id))
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def find_group(session: AsyncSession, *, org_id: int, ref: str) -> ScimGroup | None:
    """The org's IdP group with SCIM id `ref`, else the one named `ref` (case-insensitively; the oldest of twins)."""
    by_id = await session.scalar(
        select(ScimGroup).where(col(ScimGroup.org_id) == org_id, col(ScimGroup.scim_id) == ref)
    )
    if by_id is not None:
        return by_id
    query = (
        select(ScimGroup)
        .where(col(ScimGroup.org_id) == org_id, col(ScimGroup.display_name_lc) == ref.strip().lower())
        .order_by(col(ScimGroup.id))
        .limit(1)
    )
    return await session.scalar(query)


async def count_group_members(session: AsyncSession, *, group_id: int) -> int:
    """How many users the IdP puts in the group."""
    query = select(func.count()).select_from(ScimMember).where(col(ScimMember.group_id) == group_id)
    return int(await session.scalar(query) or 0)


async def forget_group(session: AsyncSession, *, group_id: int) -> list[int]:
    """Before an IdP group is deleted: take it off the requests and grants covering it; returns those grants' ids."""
    grants = list((await session.scalars(select(col(Grant.id)).where(col(Grant.scim_group_id) == group_id))).all())
    await session.execute(update(Grant).where(col(Grant.scim_group_id) == group_id).values(scim_group_id=None))
    await session.execute(
        update(AccessRequest).where(col(AccessRequest.scim_group_id) == group_id).values(scim_group_id=None)
    )
    return sorted(int(g) for g in grants if g is not None)
