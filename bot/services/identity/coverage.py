"""What a change at an org's identity provider does to the org's grants.

A SCIM write or a Shared Signal that changes who is covered calls `coverage_changed` inside its own
transaction: every live grant of the org that could cover the people concerned gets a
`grant.members_changed` event (sent by the outbox after commit, so within one delivery pass), and the change
is kept for the org admins' digest, which tells them once per sync burst instead of once per change
(`trustbot.services.identity.digest`). `/v1/entitlements` needs nothing from here: it reads the IdP's state
at question time, so its answer changes the moment the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.context import ServiceContext
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.storage.queries import identity as q
from trustbot.storage.tables import Org


class ChangeKind(StrEnum):
    """How one person's (or group's) standing at the IdP changed."""

    IDP_TOOK_OVER = "idp_took_over"  # the org's first SCIM user: from now on the IdP decides who is covered
    PROVISIONED = "provisioned"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    DEPROVISIONED = "deprovisioned"  # deleted at the IdP
    ADDRESS_CHANGED = "address_changed"
    JOINED_GROUP = "joined_group"
    LEFT_GROUP = "left_group"
    GROUP_DELETED = "group_deleted"
    HELD = "held"  # a Shared Signal held the person
    RELEASED = "released"  # a hold was lifted (an admin confirmed them, or the IdP enabled them again)


# Told to the admins at once by the service that made them (with a Confirm button), so not digested again.
NOT_DIGESTED = frozenset({ChangeKind.HELD, ChangeKind.RELEASED})


@dataclass(frozen=True)
class CoverageChange:
    """One change: its kind, the addresses it concerns (lower case) and the IdP groups it touches."""

    kind: ChangeKind
    emails: tuple[str, ...] = ()
    group_ids: tuple[int, ...] = ()
    detail: str | None = None
    grant_ids: tuple[int, ...] = ()  # grants known to be touched (a deleted group's, already taken off them)
    everyone: bool = False  # the change may concern every address of the org (the IdP took over)


async def coverage_changed(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, changes: Sequence[CoverageChange]
) -> int:
    """Queue `grant.members_changed` for the org's live grants these changes may touch and keep them for the
    admins' digest; returns how many grants changed."""
    if not changes:
        return 0
    emails = {e.lower() for c in changes for e in c.emails}
    groups = {g for c in changes for g in c.group_ids}
    everyone = any(c.everyone for c in changes)
    grant_ids = await q.live_grants_touching(session, org_id=org.pk, emails=emails, group_ids=groups, everyone=everyone)
    grant_ids = sorted({*grant_ids, *(g for c in changes for g in c.grant_ids)})
    await grant_changed(session, ctx, grant_ids, GrantEvent.MEMBERS_CHANGED)
    q.keep_changes(session, org_id=org.pk, at=ctx.now(), changes=_digestible(changes))
    return len(grant_ids)


def _digestible(changes: Iterable[CoverageChange]) -> list[tuple[str, str | None, str | None]]:
    rows: list[tuple[str, str | None, str | None]] = []
    for change in changes:
        if change.kind in NOT_DIGESTED:
            continue
        for email in change.emails or (None,):
            rows.append((str(change.kind), email, change.detail))
    return rows
