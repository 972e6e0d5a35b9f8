"""`user_change` events: Slack tells us a person changed; covered people who left the org are removed."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from trustbot.runtime import Runtime
from trustbot.services.context import system_context
from trustbot.services.entitlements.identity import profile_from_user
from trustbot.services.entitlements.members import apply_user_change
from trustbot.slack.gate import ACTING_TEAM


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for `user_change` (scope `users:read`, bot event `user_change` in manifest.yml)."""

    @app.event("user_change")
    async def user_changed(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        user = (body.get("event") or {}).get("user")
        if not isinstance(user, dict) or not user.get("id"):
            return
        profile, team = profile_from_user(user), context.get(ACTING_TEAM)  # the person's workspace, as admitted
        with rt.post_ack.tracking():
            # Slack's directory changes are one queue of their own: a flood of them is one org's worth of turns.
            async with rt.work_slots.slot("event:user_change"), rt.db.transaction() as session:
                await apply_user_change(session, system_context(rt.clock, rt.settings), profile=profile, team=team)
