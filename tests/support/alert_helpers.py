"""Shared by the alert test modules: the people and channel of the sample directory, a running
Trustbot with acme's grants at stake, and small readers of what reached Slack and the database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant
from tests.support.ingest import alert, post
from trustbot.clock import FixedClock
from trustbot.storage.database import Database
from trustbot.storage.tables import Grant, GrantStatus

CHANNEL = "C0ACMESEC"
NOT_LEAD = ":no_entry: Only the org's security leads or operators can act on alert #1; nothing changed."


@asynccontextmanager
async def alert_bot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot (updates not debounced) with acme's grants seeded; each module's `abot`."""
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS=0)
    await _seed_grants(running.rt.db, clock)
    yield running
    await running.driver.close()
    await running.server.stop()


async def _seed_grants(db: Database, clock: FixedClock) -> None:
    """Two active grants and one revoked for acme: what a suspension puts at stake."""
    for i, status in enumerate([GrantStatus.ACTIVE, GrantStatus.ACTIVE, GrantStatus.REVOKED]):
        await make_grant(
            db,
            clock,
            tier="enhanced",
            blanket=i == 0,
            status=status,
            due=timedelta(days=60),
            expires=timedelta(days=90),
        )


def last_response(bot: RunningBot) -> str:
    return json.dumps(bot.slack.responses[-1]).lower() if bot.slack.responses else ""


def last_text(bot: RunningBot) -> str:
    """The text of the last ephemeral answer (a confirmation or a refusal)."""
    assert bot.slack.responses, "no answer reached Slack"
    return str(bot.slack.responses[-1]["body"]["text"])


async def raise_alert(bot: RunningBot, severity: str = "high", **overrides: Any) -> Any:
    """Ingest one alert and return its Slack message."""
    assert (await post(bot, alert(overrides.pop("id", "a-1"), severity=severity, **overrides)))[0] == 202
    await bot.settle()
    return bot.slack.messages(CHANNEL)[-1]


async def grants(bot: RunningBot) -> list[Grant]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(Grant).order_by(col(Grant.id)))).all())


def thread(bot: RunningBot, message: Any) -> list[str]:
    return [m.text for m in bot.slack.replies(CHANNEL, message.ts)]
