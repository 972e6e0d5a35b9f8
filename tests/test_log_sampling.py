"""A flood of unsigned requests writes a handful of log lines, not one per request."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.support.bots import RunningBot
from trustbot.log_sampling import SampledWarning

FLOOD = 1000


async def flood(url: str, headers: dict[str, str]) -> list[int]:
    """FLOOD unsigned POSTs to `url`, 50 at a time; their statuses."""
    async with aiohttp.ClientSession() as http:

        async def one() -> int:
            async with http.post(url, data=b'{"id": "x"}', headers=headers) as response:
                return response.status

        statuses: list[int] = []
        for _ in range(FLOOD // 50):
            statuses += await asyncio.gather(*(one() for _ in range(50)))
        return statuses


@pytest.mark.parametrize("path", ["/slack/events", "/alerts", "/usage"])
async def test_a_thousand_unsigned_requests_log_one_warning(
    bot: RunningBot, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    headers = {"Content-Type": "application/json", "X-Trustbot-Timestamp": "1", "X-Slack-Signature": "v0=00"}
    with caplog.at_level(logging.WARNING):
        statuses = await flood(bot.server.url + path, headers)
    assert statuses == [401] * FLOOD
    refused = [r for r in caplog.records if "unsigned request" in r.getMessage()]
    assert len(refused) == 1, len(refused)
    assert path in refused[0].getMessage()


def test_a_sampled_warning_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    warning = SampledWarning(logging.getLogger("trustbot.test"), every=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for second in range(0, 150):
            now[0] = float(second)
            warning.warn("refused %s", "one")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused one",
        "refused one (and 59 more like it in the last 60s, not logged)",
        "refused one (and 59 more like it in the last 60s, not logged)",
    ]
    assert warning.suppressed == 29
