"""What `trustbot serve` checks with Slack as it starts: which configured channels the bot cannot post in."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.database import Database
from storage.queries.directory import configured_channels

log = logging.getLogger(__name__)


async def unpostable_channels(db: Database, client: AsyncWebClient) -> dict[str, str]:
    """Each configured channel (reps, default security, orgs' security) the bot cannot post in, and why."""
    async with db.sessions() as session:
        channels = await configured_channels(session)
    problems: dict[str, str] = {}
    for channel in sorted(channels):
        try:
            info = (await client.conversations_info(channel=channel)).get("channel") or {}
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            problems[channel] = str(error or f"HTTP {exc.response.status_code}")
            continue
        if info.get("is_archived"):
            problems[channel] = "archived"
        elif info.get("is_member") is False:
            problems[channel] = "the bot is not a member: invite Trustbot to it"
    return problems


async def report_unpostable_channels(db: Database, client: AsyncWebClient) -> None:
    """Log, once at start, every configured channel Slack would refuse our posts in."""
    try:
        problems = await unpostable_channels(db, client)
    except Exception as exc:  # a check, never a reason not to start
        log.warning("could not check the configured channels with Slack: %s", exc)
        return
    for channel, why in problems.items():
        log.warning("Trustbot cannot post in configured channel %s: %s", channel, why)
    if not problems:
        log.info("every configured channel accepts Trustbot's posts")
