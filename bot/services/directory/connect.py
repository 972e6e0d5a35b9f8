"""The Request access message of each org's Slack Connect channel, posted and pinned once per (org, channel).

The post is claimed as a once-only notice in the applying transaction, so applying the directory again, a
restart, or two replicas applying it at once never posts it twice; moving the org to another channel posts
it there. The pin is queued in the same transaction, right after the post and in its lane, so delivery
pins it once the post's ts is known; Slack answering `already_pinned` (an earlier attempt's answer was
lost) counts as done. A pin Slack refuses is told to the operators, who pin it by hand.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.connect import build_connect_blocks, build_pin_failed_notice
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import list_operators
from trustbot.services.notices import claim_notices
from trustbot.services.outbox import dm_all, pin_message, post_message
from trustbot.storage.queries.directory import get_org_by_id, list_orgs
from trustbot.storage.tables import Org, OutboxMessage

KEY_PREFIX = "connect:"


def connect_key(org: Org) -> str:
    """The notice (and saved message) key of the org's Request access message in its current channel."""
    return f"{KEY_PREFIX}{org.pk}:{org.connect_channel}"


async def post_connect_buttons(session: AsyncSession, ctx: ServiceContext) -> list[str]:
    """Queue the Request access message, and its pin, in every Connect channel that does not have it yet;
    those orgs' slugs."""
    orgs = {connect_key(org): org for org in await list_orgs(session) if org.connect_channel}
    won = await claim_notices(session, ctx.clock, orgs)
    posted = []
    for key, org in orgs.items():
        if key in won and org.connect_channel:
            message = build_connect_blocks(org.slug, org.name)
            post_message(session, channel=org.connect_channel, key=key, message=message)
            pin_message(session, channel=org.connect_channel, key=key)
            posted.append(org.slug)
    return posted


async def tell_operators_pin_failed(session: AsyncSession, ctx: ServiceContext, row: OutboxMessage, error: str) -> None:
    """Delivery gave up pinning a Request access message: audited, and operators told to pin it themselves."""
    key = row.message_key or ""
    org_id = key.removeprefix(KEY_PREFIX).split(":", 1)[0]
    org = await get_org_by_id(session, org_id=int(org_id)) if org_id.isdigit() else None
    org_name = org.name if org is not None else "an org no longer in the directory"
    operators = await list_operators(session, ctx.settings.operators)
    dm_all(session, operators, build_pin_failed_notice(org_name, row.channel, error))
    details = {"channel": row.channel, "error": error, "told": operators}
    await record_audit(session, ctx, action="connect.pin_failed", subject=key, details=details)
