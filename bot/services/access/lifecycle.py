"""What every scheduled change of grants shares: one audit event per org, and a note to the rep."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.text import Rendered
from trustbot.services import outbox
from trustbot.services.access.cards import org_share, parent_key
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import Snapshot
from trustbot.storage.tables import Grant


def tell_request_thread(
    session: AsyncSession, snap: Snapshot, *, request_id: int, org_id: int, rep: str | None, message: Rendered
) -> None:
    """Post in the request's thread (the message mentions whom it concerns); DM the rep when no reps channel is set."""
    if snap.reps_channel:
        parent, share = parent_key(request_id), org_share(org_id)
        outbox.reply_in_thread(session, channel=snap.reps_channel, parent_key=parent, message=message, share=share)
    elif rep:
        outbox.send_dm(session, user=rep, message=message)


async def audit_grants(
    session: AsyncSession,
    ctx: ServiceContext,
    snap: Snapshot,
    *,
    action: str,
    grants: Sequence[Grant],
    details: dict[str, object],
) -> None:
    """One audit event per org listing the grants a job changed (statements grow with orgs, not grants)."""
    by_org: dict[int, list[int]] = {}
    for grant in grants:
        by_org.setdefault(grant.org_id, []).append(grant.pk)
    for org_id, ids in sorted(by_org.items()):
        org = snap.orgs.get(org_id)
        subject = f"org:{org.slug if org else org_id}"
        await record_audit(session, ctx, action=action, subject=subject, details={**details, "grants": sorted(ids)})
