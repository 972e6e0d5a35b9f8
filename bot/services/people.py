"""Who a Slack user is to Trustbot: operator, and which roles in which orgs (DESIGN §1).

Roles come only from the directory and the `TRUSTBOT_OPERATORS` setting, never from Slack
admin flags. Deny by default: a user the directory does not name holds no roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from storage.queries.directory import get_directory_state, orgs_with_roles, roles_of_user
from storage.tables import Role

_REP_ROLES = (Role.REP, Role.BACKUP_REP)


@dataclass(frozen=True)
class Actor:
    """A Slack user and the roles the directory gives them."""

    user_id: str
    is_operator: bool = False
    roles: dict[int, frozenset[Role]] = field(default_factory=dict)

    def has_role(self, org_id: int, *roles: Role) -> bool:
        """True when the user holds any of `roles` in the org (operators are not implied)."""
        return bool(self.roles.get(org_id, frozenset()) & set(roles))

    def is_rep_of(self, org_id: int) -> bool:
        """The org's rep or one of its backup reps."""
        return self.has_role(org_id, *_REP_ROLES)

    def is_admin_of(self, org_id: int) -> bool:
        """One of the org's enterprise admins."""
        return self.has_role(org_id, Role.ADMIN)

    def is_security_lead_of(self, org_id: int) -> bool:
        """One of the org's security leads."""
        return self.has_role(org_id, Role.SECURITY_LEAD)

    def org_ids(self, *roles: Role) -> list[int]:
        """Org ids where the user holds any of `roles` (any role at all when none given)."""
        wanted = set(roles) if roles else set(Role)
        return sorted(org_id for org_id, held in self.roles.items() if held & wanted)

    @property
    def is_known(self) -> bool:
        """An operator, or someone holding at least one role somewhere."""
        return self.is_operator or any(self.roles.values())


@dataclass(frozen=True)
class OrgPeople:
    """The people of one org, in directory order."""

    rep: str | None
    backup_reps: list[str]
    admins: list[str]
    security_leads: list[str]

    @property
    def reps(self) -> list[str]:
        """The rep followed by the backup reps."""
        return ([self.rep] if self.rep else []) + self.backup_reps


def operator_ids(settings_operators: Iterable[str], directory_operators: Iterable[str]) -> frozenset[str]:
    """The union of the configured and the directory's operators, blanks dropped."""
    return frozenset(u.strip() for u in [*settings_operators, *directory_operators] if u and u.strip())


async def resolve_actor(session: AsyncSession, *, user_id: str, settings_operators: list[str]) -> Actor:
    """Look the user up in the directory; unknown users get no roles."""
    state = await get_directory_state(session)
    is_operator = user_id in operator_ids(settings_operators, state.operators or [])
    roles: dict[int, set[Role]] = {}
    for org_id, role in await roles_of_user(session, user_id=user_id):
        roles.setdefault(org_id, set()).add(role)
    return Actor(user_id=user_id, is_operator=is_operator, roles={k: frozenset(v) for k, v in roles.items()})


async def org_people(session: AsyncSession, *, org_id: int) -> OrgPeople:
    """The org's rep, backup reps, admins and security leads."""
    by_role = (await orgs_with_roles(session, org_ids=[org_id])).get(org_id, {})
    reps = by_role.get(Role.REP, [])
    return OrgPeople(
        rep=reps[0] if reps else None,
        backup_reps=list(by_role.get(Role.BACKUP_REP, [])),
        admins=list(by_role.get(Role.ADMIN, [])),
        security_leads=list(by_role.get(Role.SECURITY_LEAD, [])),
    )
