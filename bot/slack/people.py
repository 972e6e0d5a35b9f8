"""`users.info` lookups of the people a modal names, before its service runs (outside any transaction).

The modal must be answered within Slack's 3 s, so the lookups run concurrently (a few at a time,
users.info is rate-limited per workspace) within a deadline; anyone not answered in time is
reported as not found, and the rules (`bot.services.entitlements.identity`) refuse them by name
rather than let an unverified person in. Only Slack's "no such user" is a final answer; an outage,
a rate limit or a late answer is marked `unreachable`, so an approval waits instead of deciding on
what Slack said days ago.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.delivery.slack_writes import TRANSPORT_ERRORS
from trustbot.services.entitlements.identity import Profile, profile_from_user
from trustbot.slack.errors import USER_GONE_ERRORS

CONCURRENT_LOOKUPS = 10


async def look_up_people(
    client: AsyncWebClient | None, user_ids: Iterable[str], *, deadline: float
) -> dict[str, Profile]:
    """Each distinct user's profile, asked with `client` (the people's own workspace's; None: it cannot be reached
    now); those Slack did not answer for in `deadline` seconds are `unreachable`."""
    wanted = list(dict.fromkeys(u for u in user_ids if u))
    if client is None:
        return {u: Profile(user_id=u, name=u, found=False, unreachable=True) for u in wanted}
    slots = asyncio.Semaphore(CONCURRENT_LOOKUPS)

    async def one(user_id: str) -> Profile:
        async with slots:
            try:
                answer = await client.users_info(user=user_id)
            except SlackApiError as error:
                data = getattr(error.response, "data", None)
                gone = isinstance(data, dict) and data.get("error") in USER_GONE_ERRORS
                return Profile(user_id=user_id, name=user_id, found=False, unreachable=not gone)
            except TRANSPORT_ERRORS:
                return Profile(user_id=user_id, name=user_id, found=False, unreachable=True)
        user = answer.get("user")
        if isinstance(user, dict):
            return profile_from_user(user)
        return Profile(user_id=user_id, name=user_id, found=False, unreachable=True)

    tasks = {u: asyncio.ensure_future(one(u)) for u in wanted}
    if tasks:
        await asyncio.wait(tasks.values(), timeout=deadline)
    found: dict[str, Profile] = {}
    for user_id, task in tasks.items():
        if task.done() and not task.cancelled() and task.exception() is None:
            found[user_id] = task.result()
        else:
            task.cancel()
            found[user_id] = Profile(user_id=user_id, name=user_id, found=False, unreachable=True)
    return found
