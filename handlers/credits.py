"""`/trust credits [org]`: balance, burn rate, projection and expiry of each credit grant (ephemeral).

Thin: ack, call one service in one transaction, reply. Refusals raised by the service become
ephemeral replies through the `/trust` listener's guard.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.services.credits import show_credits
from handlers.commands import TrustCommand, subcommand
from handlers.common import in_transaction


@subcommand("credits")
async def credits_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """`/trust credits [org]`."""
    await ack()
    org = command.args[0] if command.args else None
    listing = await in_transaction(
        rt, lambda s: show_credits(s, rt.clock, rt.settings, user_id=command.user_id, org_slug=org)
    )
    await respond(response_type="ephemeral", **listing.to_dict())


def register(app: AsyncApp, rt: Runtime) -> None:
    """Nothing beyond the `/trust credits` subcommand, registered on import."""
    del app, rt
