"""The org admins' digest of what their IdP changed: one message per sync burst, not one per change.

An IdP pushing a 5,000-user initial sync or a 500-change burst sends that many SCIM requests; each keeps its
coverage changes (`coverage_changed`). The `identity-digest` job tells each org's admins once its burst is
over, i.e. when the org's newest change is at least `TRUSTBOT_IDENTITY_DIGEST_QUIET_SECONDS` old: one DM per
admin (in the org's workspace) summing up the burst. Changes are marked told in the same transaction that
queues the DMs, and locked while read, so two replicas never tell one burst twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.identity import build_identity_digest
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.storage.queries import identity as q


async def orgs_due(session: AsyncSession, ctx: ServiceContext) -> list[int]:
    """Orgs whose IdP burst is over and not yet told."""
    quiet = timedelta(seconds=ctx.settings.identity_digest_quiet_seconds)
    return await q.orgs_with_pending_changes(session, quiet_since=ctx.now() - quiet)


async def tell_admins(session: AsyncSession, ctx: ServiceContext, org_id: int) -> int:
    """DM the org's admins one summary of its pending changes and mark them told; returns how many it summed."""
    pending = await q.pending_changes(session, org_id=org_id)
    if not pending:
        return 0
    told = await q.mark_digested(session, change_ids=[c.pk for c in pending], at=ctx.now())
    if told == 0:
        return 0
    snap = await load_snapshot(session, org_ids={org_id})
    org = snap.orgs.get(org_id)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for change in pending:
        by_kind[change.kind].append(change.email or "")
    message = build_identity_digest(org.name if org else f"org #{org_id}", by_kind, len(pending))
    await dm_org_and_home(session, org_id, message, org_people=snap.admins(org_id), home_people=[])
    return len(pending)
