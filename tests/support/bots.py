"""A test Trustbot: its settings, its secrets, and one serving on 127.0.0.1 against the fake Slack,
reached through signed HTTP; plus small readers of its database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from tests.support.factories import seed_directory
from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.runtime import Runtime
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.slack_requests import SlackDriver
from trustbot.web.server import TrustbotServer

SIGNING_SECRET = "test-signing-secret"
INGEST_SECRET = "test-ingest-secret"
# A Monday morning: where every test's clock starts.
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    """Settings for a test bot: no `.env`, fast delivery, no background scheduler."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": 0,
        "TRUSTBOT_INGEST_SECRET": INGEST_SECRET,
        "TRUSTBOT_CHANNEL_PACE_SECONDS": 0,
        "TRUSTBOT_OUTBOX_POLL_SECONDS": 0.05,
        "TRUSTBOT_OUTBOX_LEASE_SECONDS": 5,
        "TRUSTBOT_SCHEDULER_ENABLED": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningBot:
    """A Trustbot serving on 127.0.0.1, its fake Slack, and a driver that signs requests."""

    server: TrustbotServer
    slack: FakeSlack
    driver: SlackDriver
    clock: FixedClock

    @property
    def rt(self) -> Runtime:
        return self.server.rt

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait for listeners still working after their ack, then deliver everything queued."""
        assert await self.rt.post_ack.wait(timeout), "listeners still running after their ack"
        await self.rt.delivery.drain(timeout=timeout)

    async def close(self) -> None:
        """Stop the driver, then the bot."""
        await self.driver.close()
        await self.server.stop()


async def start_bot(database_url: str, fake_slack: FakeSlack, clock: FixedClock, **overrides: Any) -> RunningBot:
    """Start a Trustbot with the sample directory applied."""
    settings = make_settings(database_url, fake_slack.api_url, **overrides)
    server = TrustbotServer(settings, clock=clock)
    await server.start(migrate=False)
    await seed_directory(server.rt.db, clock, config=settings)
    await server.preflight_finished()
    driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake_slack)
    return RunningBot(server=server, slack=fake_slack, driver=driver, clock=clock)


async def count(bot: RunningBot, table: Any) -> int:
    """Rows in one table of the bot's database."""
    async with bot.rt.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)
