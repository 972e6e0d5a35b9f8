"""Who a Slack user is to Trustbot: operator, and which roles in which orgs.

Roles come only from the directory and the `TRUSTBOT_OPERATORS` setting, never from Slack
admin flags. Deny by default: a user the directory does not name holds no roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.text import escape_mrkdwn
from trustbot.services.errors import NotAuthorized, NotFound, UnknownUser
from trustbot.storage.queries.directory import get_directory_state, get_org, orgs_by_ids, orgs_with_roles, roles_of_user
from trustbot.storage.tables import Org, Role

_REP_ROLES = (Role.REP, Role.BACKUP_REP)
# Who may see an org's grants and credits (operators: every org's); `_WHO_SEES` says it in words.
ORG_VIEWERS = (Role.ADMIN, Role.REP, Role.BACKUP_REP, Role.SECURITY_LEAD)


@dataclass(frozen=True)
class Actor:
    """A Slack user of one workspace and the roles the directory gives them there.

    `team` is the workspace they act from: None for the home workspace, else the `slack_team` of the org
    binding theirs. The same user id in two workspaces is two people.
    """

    user_id: str
    is_operator: bool = False
    roles: dict[int, frozenset[Role]] = field(default_factory=dict)
    team: str | None = None

    def is_person(self, user_id: str | None, team: str | None) -> bool:
        """True when (`team`, `user_id`), as stored with a request, is this person."""
        return user_id == self.user_id and team == self.team

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

    def require_known(self, doing: str = "do that") -> None:
        """Refuse (`UnknownUser`) someone the directory does not know at all."""
        if not self.is_known:
            raise UnknownUser(
                f"You're not in the Trustbot directory, so I can't {doing}. Ask your account rep to add you."
            )


# Trustbot itself: the actor of scheduled jobs, ingest and the CLI. It holds no org roles.
SYSTEM_ACTOR = Actor(user_id="trustbot")


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


async def resolve_actor(
    session: AsyncSession, *, user_id: str, settings_operators: Iterable[str], team: str | None = None
) -> Actor:
    """Look the person (`team`, `user_id`) up in the directory; unknown people get no roles.

    The directory names people by user id alone, so a role counts only for the workspace it belongs to:
    the admins and security leads of an org with a `slack_team` are people of that workspace; reps,
    operators, and every role of an org without one are people of the home workspace (`team` None).
    """
    state = await get_directory_state(session)
    is_operator = team is None and user_id in operator_ids(settings_operators, state.operators or [])
    roles: dict[int, set[Role]] = {}
    for org_id, role, org_team in await roles_of_user(session, user_id=user_id):
        if _role_is_of(team, role, org_team):
            roles.setdefault(org_id, set()).add(role)
    return Actor(user_id=user_id, is_operator=is_operator, roles={k: frozenset(v) for k, v in roles.items()}, team=team)


def _role_is_of(team: str | None, role: Role, org_team: str | None) -> bool:
    """Whether a role of an org (bound to `org_team`, or to none) belongs to a person acting from `team`."""
    if org_team is None or role in _REP_ROLES:
        return team is None
    return team == org_team


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


@dataclass(frozen=True)
class OrgScope:
    """The orgs a listing covers: `org_ids` None means every org (operators)."""

    org_ids: list[int] | None
    title: str
    org: Org | None = None


async def viewable_orgs(
    session: AsyncSession, actor: Actor, *, roles: Sequence[Role], org_slug: str | None, what: str
) -> OrgScope:
    """The orgs whose `what` the actor may see: one named org, or all they hold `roles` in.

    Deny by default, and neutrally: for a named org the refusal is the same whether the org
    exists or the actor merely lacks the role, so refusals never reveal other customers.
    """
    if org_slug:
        org = await get_org(session, slug=org_slug.strip().lower())
        if org is not None and (actor.is_operator or actor.has_role(org.pk, *roles)):
            return OrgScope(org_ids=[org.pk], title=org.name, org=org)
        if actor.is_operator:
            raise NotFound(f"There is no org `{escape_mrkdwn(org_slug[:64])}` in the directory.")
        raise NotAuthorized(f"You can't see {what} of `{escape_mrkdwn(org_slug[:64])}`. {_WHO_SEES}")
    if actor.is_operator:
        return OrgScope(org_ids=None, title="all orgs")
    ids = actor.org_ids(*roles)
    if not ids:
        raise NotAuthorized(f"You can't see {what}. {_WHO_SEES}")
    names = sorted(o.name for o in (await orgs_by_ids(session, org_ids=ids)).values())
    return OrgScope(org_ids=ids, title=", ".join(names))


_WHO_SEES = "Only an org's admins, account reps and security leads, and operators, can."


async def list_operators(session: AsyncSession, settings_operators: Iterable[str]) -> list[str]:
    """Every operator: the configured ones and the directory's."""
    state = await get_directory_state(session)
    return sorted(operator_ids(settings_operators, state.operators or []))
