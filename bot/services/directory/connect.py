"""The Request access message of each org's Slack Connect channel, posted once per (org, channel).

The post is claimed as a once-only notice in the applying transaction, so applying the directory again, a
restart, or two replicas applying it at once never posts it twice; moving the org to another channel posts
it there. Pinning it is left to the channel's people (see the README): a pin needs the message's ts, which
only delivery knows, and the outbox has no pin write.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.connect import build_connect_blocks
from trustbot.services.context import ServiceContext
from trustbot.services.notices import claim_notices
from trustbot.services.outbox import post_message
from trustbot.storage.queries.directory import list_orgs
from trustbot.storage.tables import Org


def connect_key(org: Org) -> str:
    """The notice (and saved message) key of the org's Request access message in its current channel."""
    return f"connect:{org.pk}:{org.connect_channel}"


async def post_connect_buttons(session: AsyncSession, ctx: ServiceContext) -> list[str]:
    """Queue the Request access message in every Connect channel that does not have it yet; those orgs' slugs."""
    orgs = {connect_key(org): org for org in await list_orgs(session) if org.connect_channel}
    won = await claim_notices(session, ctx.clock, orgs)
    posted = []
    for key, org in orgs.items():
        if key in won and org.connect_channel:
            message = build_connect_blocks(org.slug, org.name)
            post_message(session, channel=org.connect_channel, key=key, message=message)
            posted.append(org.slug)
    return posted
