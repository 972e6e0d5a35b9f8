"""The reps channel is one Slack lane shared by every org: one org's burst of requests must not queue
another org's request behind it, while each org's (and each thread's) messages keep their order."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bots import RunningBot, start_bot
from tests.support.gateway_helpers import REQUEST
from trustbot.standin.sample import ADMIN, GLOBEX_ADMIN

BURST = 40
REPS = "C0REPS"


async def file_request(bot: RunningBot, user: str, **fields: object) -> None:
    """Open the request modal and submit it over signed HTTP, without delivering anything."""
    await bot.driver.command(user, "request")
    assert await bot.rt.post_ack.wait(10)
    response = await bot.driver.submit(user, bot.slack.views(user)[-1], **{**REQUEST, **fields})
    assert response.status == 200 and not (response.json or {}).get("errors"), response.json
    assert await bot.rt.post_ack.wait(10)


@pytest.fixture
async def bot(database_url: str, fake_slack: Any, clock: Any) -> AsyncIterator[RunningBot]:
    """A running Trustbot whose orgs may have a burst of open requests (the default cap, 20, is below it)."""
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG=BURST)
    yield running
    await running.close()


def request_number(text: str) -> int:
    found = re.search(r"Access request #(\d+)", text)
    assert found, text
    return int(found.group(1))


async def test_one_orgs_burst_does_not_queue_another_orgs_request_behind_it(bot: RunningBot) -> None:
    # Held back, as Slack's one-post-a-second pace holds a real burst: everything queues first.
    await bot.rt.delivery.stop()
    for _ in range(BURST):
        await file_request(bot, ADMIN)
    await file_request(bot, GLOBEX_ADMIN, members=[GLOBEX_ADMIN], tier="standard")
    await bot.rt.delivery.drain(timeout=60)
    posts = bot.slack.messages(REPS)
    assert len(posts) == BURST + 1
    globex = [i for i, m in enumerate(posts) if "Globex" in m.text]
    assert globex and globex[0] <= 1, [m.text[:60] for m in posts[:3]]  # among the first two, not the 41st
    acme = [request_number(m.text) for m in posts if "Globex" not in m.text]
    assert acme == sorted(acme) and len(acme) == BURST  # acme's own requests still in the order filed
    for parent in posts:  # every thread in order: its buttons under it, the card never edited before posting
        replies = bot.slack.replies(REPS, parent.ts)
        assert replies and "Approve" in str(replies[0].blocks), parent.text[:60]
