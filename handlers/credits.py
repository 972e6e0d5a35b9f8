"""`/trust credits [org]`: balance, burn rate, projection and expiry of each credit grant (ephemeral)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from trustbot.handlers.commands import SlashCall, subcommand
from trustbot.messages.credits import build_credit_list
from trustbot.runtime import Runtime
from trustbot.services.credits.listing import list_credits


@subcommand("credits")
async def credits_command(call: SlashCall) -> None:
    """`/trust credits [org]`."""
    await call.ack()
    listing = await call.run(lambda s, ctx: list_credits(s, ctx, org_slug=call.command.first))
    await call.reply(build_credit_list(listing.statuses, listing.title))


def register(app: AsyncApp, rt: Runtime) -> None:
    """Nothing beyond the `/trust credits` subcommand, registered on import."""
    del app, rt
