"""Which workspace a Slack write for an org goes through: the org's own installation, or home.

An org whose `slack_team` names an installation bound to it has its people, its security channel
and its App Home in that workspace, so their writes carry that installation's key (`E…:T…`) and
delivery sends them with its token — and holds them while it is uninstalled or broken, since home's
token cannot reach that workspace. Every other org (no `slack_team`, or no installation bound to
it) is served from home, as in single-workspace mode. Reps, operators, the reps channel and the
audit channel are always home: their writes carry no workspace.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services import outbox
from trustbot.services.outbox import Message
from trustbot.storage.queries import installs as q
from trustbot.storage.queries.directory import get_org_by_id
from trustbot.storage.tables import Org


async def workspace_of_org(session: AsyncSession, org: Org | None) -> str | None:
    """The key of the installation `org`'s writes go through; None: the home workspace."""
    if org is None or org.id is None or not org.slack_team:
        return None
    row = await q.bound_workspace(session, org_id=org.pk, slack_team=org.slack_team)
    return row.key if row is not None else None


async def workspace_of_org_id(session: AsyncSession, org_id: int | None) -> str | None:
    """`workspace_of_org` for an org known by id."""
    if org_id is None:
        return None
    return await workspace_of_org(session, await get_org_by_id(session, org_id=org_id))


async def dm_org_and_home(
    session: AsyncSession,
    org_id: int,
    message: Message,
    *,
    org_people: Iterable[str | None],
    home_people: Iterable[str | None] = (),
) -> int:
    """DM the org's own people (admins, leads, members) through its workspace and home's (reps) through home,
    each person once; returns how many DMs were queued."""
    ours = [p for p in org_people if p]
    queued = outbox.dm_all(session, ours, message, workspace=await workspace_of_org_id(session, org_id))
    return queued + outbox.dm_all(session, [p for p in home_people if p and p not in ours], message)
