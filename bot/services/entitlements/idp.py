"""What the org's identity provider says of a grant's people, as the gateway sees it.

Once an org has provisioned users by SCIM (`org.scim_since`), its IdP is the source of truth for who is still
one of its people: an address it has not provisioned, or has deactivated, is not entitled under the org's
grants, named or blanket. A Shared Signal's hold counts at any org, SCIM or not. Both are read when the
question is asked, so an answer changes the moment the IdP's change commits. A grant covering an IdP group
lists the group's people as members (no Slack id: the IdP knows them by address).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.storage.queries import identity as q
from trustbot.storage.tables import Grant, HoldKind, IdentityHold, Org

HELD = "held: identity provider signal"
HOLD_WORDS: dict[str, str] = {
    HoldKind.PURGED: "removed: account purged at the identity provider",
    HoldKind.DISABLED: "held: account disabled at the identity provider",
    HoldKind.SIGNAL: HELD,
}
NOT_PROVISIONED = "not provisioned by the org's identity provider"
DEACTIVATED = "deactivated at the org's identity provider"
# Strongest first, as `reason_for` picks among them.
IDENTITY_REASONS: tuple[str, ...] = (*HOLD_WORDS.values(), NOT_PROVISIONED, DEACTIVATED)


def hold_words(holds: Iterable[IdentityHold]) -> str | None:
    """The words for the strongest of these holds (None: no hold)."""
    kinds = {h.kind for h in holds}
    return next((words for kind, words in HOLD_WORDS.items() if kind in kinds), None)


def idp_problem(org: Org | None, active: bool | None, holds: Iterable[IdentityHold]) -> str | None:
    """Why the IdP withholds one address at `org` (None: it does not); `active` None: not provisioned."""
    held = hold_words(holds)
    if held is not None:
        return held
    if org is None or org.scim_since is None:
        return None
    if active is None:
        return NOT_PROVISIONED
    return None if active else DEACTIVATED


@dataclass(frozen=True)
class GrantIdentity:
    """The IdP's view of one grant: why each listed address is withheld, and the IdP group it covers."""

    problems: Mapping[str, str] = field(default_factory=dict)
    group: tuple[str, str] | None = None  # (SCIM id, display name)
    group_emails: Sequence[str] = ()


async def identity_of(
    session: AsyncSession,
    grants: Sequence[Grant],
    orgs: Mapping[int, Org],
    emails: Mapping[int, Mapping[str, str]],
    *,
    for_address: str | None = None,
) -> dict[int, GrantIdentity]:
    """For each grant: the IdP's word on its named members (`emails`: grant -> slack id -> address) and group;
    with `for_address`, on that one address only (an answer about one person never reads whole rosters)."""
    group_ids = {g.scim_group_id for g in grants if g.scim_group_id is not None}
    groups = await q.groups_by_ids(session, group_ids=group_ids)
    members = await q.group_member_emails(session, group_ids=group_ids, email=for_address)
    wanted: dict[int, set[str]] = {}
    for grant in grants:
        listed = {e for e in emails.get(grant.pk, {}).values() if for_address is None or e == for_address}
        if grant.scim_group_id is not None:
            listed |= set(members.get(grant.scim_group_id, {}))
        wanted.setdefault(grant.org_id, set()).update(listed)
    problems: dict[int, dict[str, str]] = {}
    for org_id, addresses in wanted.items():
        org = orgs.get(org_id)
        holds = await q.holds_for_emails(session, org_id=org_id, emails=addresses)
        active = await q.active_by_email(session, org_id=org_id, emails=addresses) if org and org.scim_since else {}
        found = {a: idp_problem(org, active.get(a), [holds[a]] if a in holds else []) for a in addresses}
        problems[org_id] = {a: p for a, p in found.items() if p is not None}
    view: dict[int, GrantIdentity] = {}
    for grant in grants:
        group = groups.get(grant.scim_group_id) if grant.scim_group_id is not None else None
        view[grant.pk] = GrantIdentity(
            problems=problems.get(grant.org_id, {}),
            group=(group.scim_id, group.display_name) if group else None,
            group_emails=sorted(members.get(grant.scim_group_id, {})) if grant.scim_group_id is not None else (),
        )
    return view
