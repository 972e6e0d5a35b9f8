"""A running Trustbot wired to a local gateway (webhook receiver + entitlements client), and the steps
the gateway tests share: submit a request through the modal, approve it, suspend from an alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.support.bots import RunningBot, start_bot
from tests.support.ingest import alert, post
from trustbot.clock import FixedClock
from trustbot.standin.gateway import API_TOKEN, SECRET, FakeGateway
from trustbot.standin.sample import ADMIN, DEV, REP, SEC_LEAD

REQUEST = {
    "members": [DEV],
    "blanket": False,
    "tier": "enhanced",
    "duration": "30",
    "use_case": "Malware analysis",
    "justification": "Our SOC reverse-engineers samples daily.",
}


@asynccontextmanager
async def gateway_bot(
    database_url: str, fake_slack: Any, clock: FixedClock, **overrides: Any
) -> AsyncIterator[tuple[RunningBot, FakeGateway]]:
    """Trustbot with `TRUSTBOT_WEBHOOK_URL` pointing at a local gateway, which may ask `/v1/*`."""
    gateway = await FakeGateway().start()
    settings = {"TRUSTBOT_WEBHOOK_URL": gateway.url, "TRUSTBOT_WEBHOOK_SECRET": SECRET, "TRUSTBOT_API_TOKEN": API_TOKEN}
    running = await start_bot(database_url, fake_slack, clock, **{**settings, **overrides})
    gateway.api_base = running.server.url
    try:
        yield running, gateway
    finally:
        await running.driver.close()
        await running.server.stop()
        await gateway.stop()


async def submit_request(bot: RunningBot, user: str = ADMIN, **fields: Any) -> Any:
    """Open the request modal and submit it; the answer to the submission."""
    await bot.driver.command(user, "request")
    await bot.settle()
    view = bot.slack.views(user)[-1]
    response = await bot.driver.submit(user, view, **{**REQUEST, **fields})
    await bot.settle()
    return response


async def approve_latest(bot: RunningBot, rep: str = REP) -> None:
    """The rep clicks Approve in the newest request's thread; then one delivery pass."""
    parent = bot.slack.messages("C0REPS")[-1]
    actions = bot.slack.replies("C0REPS", parent.ts)[0]
    response = await bot.driver.click(rep, actions, "Approve")
    assert response.status == 200
    await bot.settle()


async def suspend_from_alert(bot: RunningBot, reason: str = "Confirmed exfiltration") -> None:
    """A critical alert for acme, and its security lead's one-click suspension (confirmed with a reason)."""
    assert (await post(bot, alert("a-1", severity="critical")))[0] == 202
    await bot.settle()
    message = bot.slack.messages("C0ACMESEC")[-1]
    await bot.driver.click(SEC_LEAD, message, "Suspend access")
    await bot.settle()
    await bot.driver.submit(SEC_LEAD, bot.slack.views(SEC_LEAD)[-1], reason=reason)
    await bot.settle()
