"""Each installation's status: recorded and bound when installed, ended when uninstalled, listed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.installs import (
    build_broken_notice_blocks,
    build_ended_notice_blocks,
    build_installed_notice_blocks,
    workspace_label,
)
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import list_operators
from trustbot.storage.queries import installs as q
from trustbot.storage.queries.directory import get_org_by_id
from trustbot.storage.queries.outbox import held_by_workspace
from trustbot.storage.tables import Workspace, WorkspaceStatus


@dataclass(frozen=True)
class InstalledTeam:
    """What Slack's OAuth answer says about one installation (no tokens)."""

    team_id: str | None
    enterprise_id: str | None
    team_name: str | None
    is_enterprise_install: bool
    scopes: str

    @property
    def key(self) -> str:
        """`E…:T…`: the Grid org (or nothing) and the team (nothing for an org-wide install)."""
        return workspace_key(self.enterprise_id, None if self.is_enterprise_install else self.team_id)


def workspace_key(enterprise_id: str | None, team_id: str | None) -> str:
    """The key of a workspace's status row."""
    return f"{enterprise_id or ''}:{team_id or ''}"


@dataclass(frozen=True)
class InstallOutcome:
    """Where a new installation landed: the org it is bound to (None: unbound) and the org whose link was used."""

    label: str
    org_slug: str | None
    linked_slug: str | None


async def record_installation(
    session: AsyncSession, ctx: ServiceContext, *, team: InstalledTeam, linked_org_id: int | None
) -> InstallOutcome:
    """Record (or renew) an installation, bound to the org whose `slack_team` it is; audited, operators told.

    Installed through an org's link from a workspace that org does not bind, it stays unbound.
    """
    ids = [team.enterprise_id or ""] if team.is_enterprise_install else [team.team_id or "", team.enterprise_id or ""]
    binding = await q.org_binding(session, ids=ids)
    linked = await get_org_by_id(session, org_id=linked_org_id) if linked_org_id is not None else None
    org = binding if linked is None or (binding is not None and binding.pk == linked.pk) else None
    row = await q.get_workspace(session, key=team.key)
    if row is None:
        row = Workspace(key=team.key, status=WorkspaceStatus.ACTIVE, installed_at=ctx.now())
        session.add(row)
    row.team_id, row.enterprise_id, row.team_name = team.team_id, team.enterprise_id, team.team_name
    row.is_enterprise_install, row.scopes = team.is_enterprise_install, team.scopes
    row.org_id, row.linked_org_id = (org.pk if org else None), (linked.pk if linked else None)
    row.status, row.installed_at, row.ended_at, row.ended_reason = WorkspaceStatus.ACTIVE, ctx.now(), None, None
    await session.flush()
    outcome = InstallOutcome(
        label=workspace_label(team.team_id, team.enterprise_id, team.team_name),
        org_slug=org.slug if org else None,
        linked_slug=linked.slug if linked else None,
    )
    operators = await list_operators(session, ctx.settings.operators)
    outbox.dm_all(
        session, operators, build_installed_notice_blocks(outcome.label, outcome.org_slug, outcome.linked_slug)
    )
    details: dict[str, Any] = {
        "team_id": team.team_id,
        "enterprise_id": team.enterprise_id,
        "is_enterprise_install": team.is_enterprise_install,
        "org": outcome.org_slug,
        "via_link_of": outcome.linked_slug,
        "scopes": team.scopes,
        "told": operators,
    }
    await record_audit(session, ctx, action="workspace.installed", subject=f"workspace:{team.key}", details=details)
    return outcome


async def end_installation(
    session: AsyncSession, ctx: ServiceContext, *, enterprise_id: str | None, team_id: str | None, reason: str
) -> bool:
    """Mark an installation uninstalled (Slack said `app_uninstalled` or `tokens_revoked`); audited, operators
    told. False when it was unknown or already ended (Slack's retries change nothing)."""
    row = await q.get_workspace(session, key=workspace_key(enterprise_id, team_id))
    if row is None and team_id is not None:  # an org-wide install names the team it was removed from
        row = await q.get_workspace(session, key=workspace_key(enterprise_id, None))
    if row is None or row.status == WorkspaceStatus.UNINSTALLED:
        return False
    row.status, row.ended_at, row.ended_reason = WorkspaceStatus.UNINSTALLED, ctx.now(), reason
    org = await get_org_by_id(session, org_id=row.org_id) if row.org_id is not None else None
    label = workspace_label(row.team_id, row.enterprise_id, row.team_name)
    operators = await list_operators(session, ctx.settings.operators)
    outbox.dm_all(session, operators, build_ended_notice_blocks(label, org.slug if org else None, reason))
    details = {"reason": reason, "org": org.slug if org else None, "told": operators}
    await record_audit(session, ctx, action="workspace.uninstalled", subject=f"workspace:{row.key}", details=details)
    return True


async def installation_broken(session: AsyncSession, ctx: ServiceContext, *, key: str, error: str) -> bool:
    """Slack refused an installation's token mid-delivery: mark it broken, audited, operators told — once
    (False when it was not active: another send, or another replica, got there first)."""
    if not await q.mark_broken(session, key=key, at=ctx.now(), reason=error):
        return False
    row = await q.workspace_row(session, key=key)
    org = await get_org_by_id(session, org_id=row.org_id) if row is not None and row.org_id is not None else None
    label = workspace_label(row.team_id, row.enterprise_id, row.team_name) if row is not None else key
    operators = await list_operators(session, ctx.settings.operators)
    outbox.dm_all(session, operators, build_broken_notice_blocks(label, org.slug if org else None, error))
    details = {"reason": error, "org": org.slug if org else None, "told": operators}
    await record_audit(session, ctx, action="workspace.broken", subject=f"workspace:{key}", details=details)
    return True


async def held_writes(session: AsyncSession) -> dict[str, int]:
    """For each uninstalled or broken installation (by key) with any: how many Slack writes wait for it."""
    return await held_by_workspace(session)


async def list_installations(session: AsyncSession) -> list[dict[str, Any]]:
    """One row per installation for `trustbot installs list` (`held`: its Slack writes waiting for a reinstall)."""
    held = await held_by_workspace(session)
    return [
        {
            "team": row.team_id or "-",
            "enterprise": row.enterprise_id or "-",
            "name": row.team_name,
            "org": slug or "unbound",
            "status": row.status,
            "installed_at": row.installed_at.isoformat(timespec="seconds"),
            "scopes": row.scopes,
            "held": held.get(row.key, 0),
        }
        for row, slug in await q.list_workspaces(session)
    ]
