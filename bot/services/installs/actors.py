"""Which side a person acting in Slack is on: the home workspace, or the workspace an org binds (`slack_team`).

A payload from a customer workspace is acted on only when its installation is still installed and its
actor's team (or Grid org) is one an org binds; everything else is refused before any service runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.storage.queries import installs as q


@dataclass(frozen=True)
class Side:
    """Where a person acts from: `team` None for the home workspace, else the `slack_team` of the org binding it;
    `installation` the key of the customer installation the payload came through (None: home's), whose token
    answers it (a trigger_id or an App Home is good only with the token of the installation that carried it)."""

    team: str | None
    installation: str | None = None


HOME = Side(team=None)


async def acting_side(
    session: AsyncSession,
    *,
    home_installation: bool,
    installation_keys: list[str],
    actor_home: bool,
    actor_ids: tuple[str, ...],
) -> Side | None:
    """The side of a person of a customer workspace (or reached through one); None: refused.

    `home_installation` says the payload came through the home workspace's installation; otherwise the
    installation must be one stored and still active. `actor_home`: the actor is of the home workspace;
    `actor_ids` are their team, then their Grid org.
    """
    installation = None if home_installation else await q.first_active_workspace(session, keys=installation_keys)
    if not home_installation and installation is None:
        return None
    if actor_home:
        return Side(team=None, installation=installation)
    org = await q.org_binding(session, ids=list(actor_ids))
    return Side(team=org.slack_team, installation=installation) if org is not None else None
