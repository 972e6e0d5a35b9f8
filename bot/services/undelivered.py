"""What happens when Slack will not take a message: the people concerned hear another way.

Delivery calls `handle_undelivered` in the transaction that gives up on an outbox row; it is audited. A post
refused because of its channel (the bot is not in it, it is archived or gone, posting is
restricted) is rerouted: an alert to the default security channel with its leads told, a request
to the operators, who must fix the channel for the reps to decide in its thread. A pin Slack refuses
(or whose post it refused) is told to the operators.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import requests as request_msg
from trustbot.messages.gateway import build_webhook_undelivered_notice
from trustbot.services import outbox
from trustbot.services.access.cards import build_card, parent_key, request_of_parent_key
from trustbot.services.alerts.reroute import reroute_refused_alert
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.connect import tell_operators_pin_failed
from trustbot.services.directory.people import list_operators
from trustbot.slack.errors import CHANNEL_REFUSALS
from trustbot.storage.queries.directory import orgs_by_ids
from trustbot.storage.queries.grants import get_grant
from trustbot.storage.queries.requests import get_request
from trustbot.storage.tables import OutboxMessage, OutboxOp


async def handle_undelivered(session: AsyncSession, ctx: ServiceContext, row: OutboxMessage, error: str) -> None:
    """Record that Slack (or the gateway) refused `row` for good, and make sure the people concerned hear."""
    details = {"op": row.op, "channel": row.channel, "error": error, "attempts": row.attempts}
    await record_audit(session, ctx, action="delivery.failed", subject=f"outbox:{row.id}", details=details)
    if row.op == OutboxOp.WEBHOOK:
        await _tell_operators_of_event(session, ctx, row, error)
        return
    if row.op == OutboxOp.PIN:  # the Request access message of a Slack Connect channel
        await tell_operators_pin_failed(session, ctx, row, error)
        return
    key = row.save_as or ""
    if row.op != OutboxOp.POST or error not in CHANNEL_REFUSALS:
        return
    request_id = request_of_parent_key(key)
    if key.startswith("alert:"):
        await reroute_refused_alert(session, ctx, key=key, channel=row.channel, error=error)
    elif request_id is not None:
        await _tell_operators_of_request(session, ctx, request_id=request_id, channel=row.channel, error=error)


async def _tell_operators_of_request(
    session: AsyncSession, ctx: ServiceContext, *, request_id: int, channel: str, error: str
) -> None:
    request = await get_request(session, request_id=request_id)
    if request is None:
        return
    card = await build_card(session, request)
    operators = await list_operators(session, ctx.settings.operators)
    outbox.dm_all(session, operators, request_msg.build_request_refused_notice(card, channel, error))
    details = {"refused_channel": channel, "error": error, "told": operators}
    await record_audit(session, ctx, action="request.undelivered", subject=parent_key(request_id), details=details)


async def _tell_operators_of_event(session: AsyncSession, ctx: ServiceContext, row: OutboxMessage, error: str) -> None:
    """A grant change event the gateway never took: audited, and operators told to have it resync."""
    # Every webhook row names its grant: `grant_changed` is the only writer of them.
    grant_id, event_type = int(row.payload["grant"]), str(row.payload.get("type") or "")
    grant = await get_grant(session, grant_id=grant_id)
    orgs = await orgs_by_ids(session, org_ids=[grant.org_id] if grant else [])
    org_name = orgs[grant.org_id].name if grant and grant.org_id in orgs else "an org no longer in the directory"
    operators = await list_operators(session, ctx.settings.operators)
    outbox.dm_all(session, operators, build_webhook_undelivered_notice(event_type, grant_id, org_name, error))
    details = {
        "event": row.payload.get("id"),
        "type": event_type,
        "error": error,
        "attempts": row.attempts,
        "told": operators,
    }
    await record_audit(session, ctx, action="webhook.undelivered", subject=f"grant:{grant_id}", details=details)
