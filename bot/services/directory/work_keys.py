"""Whose turn a person's work after `ack()` takes: their org's, so one org's burst queues behind itself."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.storage.queries.directory import list_orgs, orgs_with_roles
from trustbot.storage.tables import Role

# A customer's people act for their org; reps and operators serve many orgs and are each their own key.
_CUSTOMER_ROLES = (Role.ADMIN, Role.SECURITY_LEAD)


def org_key(org_id: int) -> str:
    """The work key of everyone acting for one customer org."""
    return f"org:{org_id}"


def own_key(user_id: str) -> str:
    """The work key of a person who acts for no one org (reps, operators, people the directory lacks)."""
    return f"user:{user_id}"


async def work_keys(session: AsyncSession) -> dict[str, str]:
    """User id → org key for every admin and security lead (the lowest org id if they are in several)."""
    orgs = await list_orgs(session)
    roles = await orgs_with_roles(session, org_ids=[o.pk for o in orgs])
    keys: dict[str, str] = {}
    for org_id in sorted(roles):
        for role in _CUSTOMER_ROLES:
            for user_id in roles[org_id].get(role, []):
                keys.setdefault(user_id, org_key(org_id))
    return keys
