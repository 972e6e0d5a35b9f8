"""What `trustbot serve` learns from Slack as it starts: which workspace the token belongs to (`auth.test`),
and which configured channels the bot cannot post in."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.storage.database import Database
from trustbot.storage.queries.directory import configured_channels

log = logging.getLogger(__name__)


class SlackUnavailable(Exception):
    """Slack refused the token or could not be reached; the message is one line."""


@dataclass(frozen=True)
class Installation:
    """The workspace (and Enterprise Grid org) the bot token belongs to."""

    team_id: str | None
    enterprise_id: str | None
    bot_user_id: str | None

    def owns(self, payload: dict[str, Any]) -> bool:
        """True when a Slack payload names this installation (the workspace or org the bot is installed in).

        Slack names the installation in different fields by payload kind: `view.app_installed_team_id`
        (a modal opened from a Slack Connect channel), `team.id` or `team_id` (commands, clicks),
        `authorizations[0]` (events), `enterprise`/`enterprise_id` for Enterprise Grid. A payload
        naming none of ours comes from another workspace where the same app is installed.
        """
        view, team, enterprise = _part(payload, "view"), _part(payload, "team"), _part(payload, "enterprise")
        auths = payload.get("authorizations")
        first: dict[str, Any] = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
        teams = _ids(view.get("app_installed_team_id"), team.get("id"), payload.get("team_id"), first.get("team_id"))
        orgs = _ids(enterprise.get("id"), payload.get("enterprise_id"), team.get("enterprise_id"))
        orgs |= _ids(first.get("enterprise_id"))
        if self.team_id and self.team_id in teams:
            return True
        return bool(self.enterprise_id and self.enterprise_id in orgs)


def _ids(*values: Any) -> set[str]:
    # A signed payload can still hold anything where Slack puts an id: only text can name us.
    return {value for value in values if isinstance(value, str)}


def _part(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


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
        team_id=answer.get("team_id"), enterprise_id=answer.get("enterprise_id"), bot_user_id=answer.get("user_id")
    )


async def unpostable_channels(
    db: Database, client: AsyncWebClient, *, also: Iterable[str | None] = ()
) -> dict[str, str]:
    """Each configured channel (reps, default security, orgs' security, and `also`) the bot cannot post in, and why."""
    async with db.sessions() as session:
        channels = await configured_channels(session, also=also)
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


async def report_unpostable_channels(db: Database, client: AsyncWebClient, *, also: Iterable[str | None] = ()) -> None:
    """Log, once at start, every configured channel Slack would refuse our posts in."""
    try:
        problems = await unpostable_channels(db, client, also=also)
    except Exception as exc:  # a check, never a reason not to start
        log.warning("could not check the configured channels with Slack: %s", exc)
        return
    for channel, why in problems.items():
        log.warning("Trustbot cannot post in configured channel %s: %s", channel, why)
    if not problems:
        log.info("every configured channel accepts Trustbot's posts")
