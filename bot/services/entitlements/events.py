"""Grant change events for the gateway's webhook, written in the transaction of the change and sent by the outbox.

Every service that changes a grant calls `grant_changed` after its conditional update won: the
grants' `updated_at` moves on (the order `/v1/grants` pages by) and, when `TRUSTBOT_WEBHOOK_URL`
is set, one outbox row per grant carries the event — its id (the `webhook-id` on every retry)
and its exact body are fixed here, so a retry sends the same bytes. Rows of one org share one
lane (`wh:<org id>`): delivery sends a lane strictly in order and a row backing off holds the
ones behind it, so a gateway never sees a `grant.restored` before the `grant.suspended` it undoes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services import outbox
from trustbot.services.context import ServiceContext
from trustbot.services.entitlements.grant_view import grant_object, rfc3339
from trustbot.services.entitlements.idp import identity_of
from trustbot.storage.queries import entitlements as q
from trustbot.storage.queries.directory import orgs_by_ids
from trustbot.storage.queries.grants import get_grant


class GrantEvent(StrEnum):
    """The `type` of a grant change event."""

    ACTIVATED = "grant.activated"
    SUSPENDED = "grant.suspended"
    RESTORED = "grant.restored"
    REVOKED = "grant.revoked"
    EXPIRED = "grant.expired"
    MEMBERS_CHANGED = "grant.members_changed"


def webhook_lane(org_id: int) -> str:
    """The outbox lane of one org's events: delivered in order, one at a time."""
    return f"wh:{org_id}"


async def grant_changed(
    session: AsyncSession, ctx: ServiceContext, grant_ids: Sequence[int], kind: GrantEvent | None
) -> int:
    """Record that these grants changed (`updated_at`) and queue their events; returns how many were queued.

    `kind` None: a change the gateway only sees on its next sync (a re-verification moving the due date).
    """
    ids = sorted(set(grant_ids))
    if not ids:
        return 0
    now = ctx.now()
    # The sync order is the wall clock's, like the outbox's: `jobs run --now` in the future must not
    # stamp a change ahead of changes made after it, or a gateway resuming from it would skip them.
    await q.touch_grants(session, grant_ids=ids, at=datetime.now(UTC))
    if kind is None or not ctx.settings.webhook_url:
        return 0
    grants = [g for g in [await get_grant(session, grant_id=i) for i in ids] if g is not None]
    orgs = await orgs_by_ids(session, org_ids={g.org_id for g in grants})
    emails = await q.member_emails(session, grant_ids=ids)
    idp = await identity_of(session, grants, orgs, emails)
    for grant in grants:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = {
            "id": event_id,
            "type": str(kind),
            "created_at": rfc3339(now),
            "data": {
                "grant": grant_object(grant, orgs.get(grant.org_id), emails.get(grant.pk, {}), idp=idp.get(grant.pk))
            },
        }
        payload = {
            "id": event_id,
            "type": str(kind),
            "grant": grant.pk,
            "body": json.dumps(body, separators=(",", ":")),
        }
        outbox.queue_webhook(session, lane=webhook_lane(grant.org_id), payload=payload)
    return len(grants)
