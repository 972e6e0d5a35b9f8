"""The directory facts a batch of notices renders with, loaded in a constant number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.lifecycle import GrantInfo
from trustbot.storage.queries.directory import get_directory_state, list_tiers, orgs_by_ids, orgs_with_roles
from trustbot.storage.tables import Grant, Org, Role, Tier


@dataclass(frozen=True)
class Snapshot:
    """Orgs, their people, every tier and the reps channel."""

    orgs: dict[int, Org]
    people: dict[int, dict[Role, list[str]]]
    tiers: dict[str, Tier]
    reps_channel: str | None

    def admins(self, org_id: int) -> list[str]:
        """The org's enterprise admins."""
        return list(self.people.get(org_id, {}).get(Role.ADMIN, []))

    def rep(self, org_id: int) -> str | None:
        """The org's account rep, if any."""
        reps = self.people.get(org_id, {}).get(Role.REP, [])
        return reps[0] if reps else None

    def backup_reps(self, org_id: int) -> list[str]:
        """The org's backup reps."""
        return list(self.people.get(org_id, {}).get(Role.BACKUP_REP, []))

    def info(self, grant: Grant) -> GrantInfo:
        """The grant with its org and tier name, for messages."""
        tier = self.tiers.get(grant.tier_id)
        return GrantInfo(grant=grant, org=self.orgs[grant.org_id], tier_name=tier.name if tier else grant.tier_id)


async def load_snapshot(session: AsyncSession, *, org_ids: Iterable[int]) -> Snapshot:
    """Orgs, their people, every tier and the reps channel: four queries whatever the batch size."""
    ids = sorted(set(org_ids))
    state = await get_directory_state(session)
    return Snapshot(
        orgs=await orgs_by_ids(session, org_ids=ids),
        people=await orgs_with_roles(session, org_ids=ids),
        tiers={t.id: t for t in await list_tiers(session)},
        reps_channel=state.reps_channel,
    )
