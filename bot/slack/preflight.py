"""What `trustbot serve` learns from Slack as it starts: which workspace the token belongs to (`auth.test`),
and which configured channels the bot cannot post in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.services.installs.routing import workspace_of_org
from trustbot.storage.database import Database
from trustbot.storage.queries.directory import configured_channels, org_security_channels

log = logging.getLogger(__name__)


class SlackUnavailable(Exception):
    """Slack refused the token or could not be reached; the message is one line."""


@dataclass(frozen=True)
class Installation:
    """The home workspace (and Enterprise Grid org) the bot token belongs to, and our app's id."""

    team_id: str | None
    enterprise_id: str | None
    bot_user_id: str | None
    app_id: str | None = None  # `auth.test` says it for bot tokens; None: payloads' `api_app_id` is not checked

    def is_home(self, *ids: str | None) -> bool:
        """True when any of `ids` is the home workspace or its Grid org."""
        home = {i for i in (self.team_id, self.enterprise_id) if i}
        return any(i in home for i in ids if i)


async def identify(client: AsyncWebClient) -> Installation:
    """Ask Slack whose token this is; `SlackUnavailable` when Slack refuses it or cannot be reached."""
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        raise SlackUnavailable(f"Slack refused SLACK_BOT_TOKEN ({error})") from None
    except Exception as exc:  # unreachable, timed out, not Slack at all
        raise SlackUnavailable(f"cannot reach Slack at {client.base_url}: {type(exc).__name__}") from None
    return Installation(
        team_id=answer.get("team_id"),
        enterprise_id=answer.get("enterprise_id"),
        bot_user_id=answer.get("user_id"),
        app_id=answer.get("app_id"),
    )


# The client that reaches a workspace's channels: home's for None, an installation's by key, or None while
# that installation is not active (its writes are held).
ClientOf = Callable[[str | None], Awaitable[AsyncWebClient | None]]
HELD = "its workspace's installation is not active: writes there are held until it is installed again"


async def unpostable_channels(db: Database, client_of: ClientOf, *, also: Iterable[str | None] = ()) -> dict[str, str]:
    """Each configured channel (reps, default security, orgs' security, and `also`) the bot cannot post in, and why;
    each checked through the workspace it is in (a bound org's security channel through the org's)."""
    async with db.sessions() as session:
        channels = await configured_channels(session, also=also)
        workspaces = {c: await workspace_of_org(session, org) for org, c in await org_security_channels(session)}
    problems: dict[str, str] = {}
    for channel in sorted(channels):
        client = await client_of(workspaces.get(channel))
        if client is None:
            problems[channel] = HELD
            continue
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


async def report_unpostable_channels(db: Database, client_of: ClientOf, *, also: Iterable[str | None] = ()) -> None:
    """Log, once at start, every configured channel Slack would refuse our posts in."""
    try:
        problems = await unpostable_channels(db, client_of, also=also)
    except Exception as exc:  # a check, never a reason not to start
        log.warning("could not check the configured channels with Slack: %s", exc)
        return
    for channel, why in problems.items():
        log.warning("Trustbot cannot post in configured channel %s: %s", channel, why)
    if not problems:
        log.info("every configured channel accepts Trustbot's posts")
