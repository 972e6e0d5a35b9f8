"""Customer workspaces: install links, OAuth states, installations' status. Keyword-only, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.tables import InstallLink, OAuthState, Org, Workspace, WorkspaceStatus


async def add_link(
    session: AsyncSession, *, token_hash: str, org_id: int, created_by: str, at: datetime, expires_at: datetime
) -> None:
    """Store a new install link (its hash)."""
    session.add(
        InstallLink(token_hash=token_hash, org_id=org_id, created_by=created_by, created_at=at, expires_at=expires_at)
    )
    await session.flush()


async def usable_link(session: AsyncSession, *, token_hash: str, at: datetime) -> InstallLink | None:
    """The link with this hash when it is neither used nor expired at `at`."""
    link = await session.get(InstallLink, token_hash)
    if link is None or link.used_at is not None or link.expires_at <= at:
        return None
    return link


async def add_state(session: AsyncSession, *, state_hash: str, link_hash: str, expires_at: datetime) -> None:
    """Store an OAuth state issued for a visit of a link."""
    session.add(OAuthState(state_hash=state_hash, link_hash=link_hash, expires_at=expires_at))
    await session.flush()


async def consume_state(session: AsyncSession, *, state_hash: str, at: datetime) -> str | None:
    """Mark the state consumed if it is unconsumed and unexpired; its link's hash, or None (one caller wins)."""
    statement = (
        update(OAuthState)
        .where(
            col(OAuthState.state_hash) == state_hash,
            col(OAuthState.consumed_at).is_(None),
            col(OAuthState.expires_at) > at,
        )
        .values(consumed_at=at)
        .returning(col(OAuthState.link_hash))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def use_link(session: AsyncSession, *, token_hash: str, at: datetime) -> int | None:
    """Mark the link used if it is unused and unexpired; its org id, or None (one caller wins)."""
    statement = (
        update(InstallLink)
        .where(
            col(InstallLink.token_hash) == token_hash,
            col(InstallLink.used_at).is_(None),
            col(InstallLink.expires_at) > at,
        )
        .values(used_at=at)
        .returning(col(InstallLink.org_id))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def org_of_consumed_state(session: AsyncSession, *, state_hash: str) -> int | None:
    """The org whose link a consumed state was issued for."""
    statement = (
        select(col(InstallLink.org_id))
        .join(OAuthState, col(OAuthState.link_hash) == col(InstallLink.token_hash))
        .where(col(OAuthState.state_hash) == state_hash, col(OAuthState.consumed_at).is_not(None))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def org_binding(session: AsyncSession, *, ids: list[str]) -> Org | None:
    """The org whose `slack_team` is the first of `ids` any org binds (team before Grid org)."""
    wanted = [i for i in ids if i]
    if not wanted:
        return None
    orgs = {
        o.slack_team: o for o in (await session.execute(select(Org).where(col(Org.slack_team).in_(wanted)))).scalars()
    }
    return next((orgs[i] for i in wanted if i in orgs), None)


async def get_workspace(session: AsyncSession, *, key: str) -> Workspace | None:
    """One installation's status row, locked for the caller's update on PostgreSQL."""
    statement = select(Workspace).where(col(Workspace.key) == key).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def list_workspaces(session: AsyncSession) -> list[tuple[Workspace, str | None]]:
    """Every installation with the slug of the org bound to it, oldest first."""
    statement = (
        select(Workspace, col(Org.slug))
        .outerjoin(Org, col(Org.id) == col(Workspace.org_id))
        .order_by(col(Workspace.installed_at), col(Workspace.key))
    )
    return [(w, slug) for w, slug in (await session.execute(statement)).all()]


async def first_active_workspace(session: AsyncSession, *, keys: list[str]) -> str | None:
    """The first of `keys` (in their order) naming an installation still installed (not ended, not broken)."""
    if not keys:
        return None
    statement = select(col(Workspace.key)).where(
        col(Workspace.key).in_(keys), col(Workspace.status) == WorkspaceStatus.ACTIVE
    )
    active = set((await session.scalars(statement)).all())
    return next((key for key in keys if key in active), None)


async def bound_workspace(session: AsyncSession, *, org_id: int, slack_team: str | None) -> Workspace | None:
    """The installation bound to the org that its `slack_team` still names (the newest, active ones first)."""
    if not slack_team:
        return None
    statement = (
        select(Workspace)
        .where(
            col(Workspace.org_id) == org_id,
            or_(
                and_(col(Workspace.team_id) == slack_team, ~col(Workspace.is_enterprise_install)),
                and_(col(Workspace.enterprise_id) == slack_team, col(Workspace.is_enterprise_install)),
            ),
        )
        .order_by((col(Workspace.status) == WorkspaceStatus.ACTIVE).desc(), col(Workspace.installed_at).desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def workspace_row(session: AsyncSession, *, key: str) -> Workspace | None:
    """One installation's status row, unlocked (delivery reads it before each send)."""
    return await session.get(Workspace, key)


async def mark_broken(session: AsyncSession, *, key: str, at: datetime, reason: str) -> bool:
    """Mark an active installation broken (Slack refused its token); True only for the call that did."""
    statement = (
        update(Workspace)
        .where(col(Workspace.key) == key, col(Workspace.status) == WorkspaceStatus.ACTIVE)
        .values(status=WorkspaceStatus.BROKEN, ended_at=at, ended_reason=reason[:32])
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(await session.execute(statement), "rowcount", 0) == 1)
