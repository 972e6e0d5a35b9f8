"""`/metrics` on a listener of its own: with TRUSTBOT_METRICS_PORT set, the public
listener answers 404 for it; unset, it stays where the contract puts it."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.bots import RunningBot, start_bot
from trustbot.clock import FixedClock


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_metrics_move_to_their_own_listener(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    bot = await start_bot(database_url, fake_slack, clock, TRUSTBOT_METRICS_HOST="127.0.0.1", TRUSTBOT_METRICS_PORT=0)
    try:
        assert bot.server.metrics_port not in (None, bot.server.port)
        assert (await get(f"{bot.server.url}/metrics"))[0] == 404
        assert (await get(f"{bot.server.url}/healthz"))[0] == 200
        status, text = await get(f"http://127.0.0.1:{bot.server.metrics_port}/metrics")
        assert status == 200 and "trustbot_http_request_seconds" in text and "trustbot_outbox_pending" in text
        assert (await get(f"http://127.0.0.1:{bot.server.metrics_port}/healthz"))[0] == 404
    finally:
        await bot.close()


async def test_unset_metrics_port_keeps_metrics_public(bot: RunningBot) -> None:
    assert bot.server.metrics_port is None
    status, text = await get(f"{bot.server.url}/metrics")
    assert status == 200 and "trustbot_http_request_seconds" in text
