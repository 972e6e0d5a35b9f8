"""What the tests that kill or stop a child `trustbot serve` share: its environment, an access request
made through it, and waiting for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.support.bots import SIGNING_SECRET
from tests.support.processes import clean_env
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, DEV, DIRECTORY_YAML
from trustbot.standin.slack_requests import SlackDriver
from trustbot.standin.transcript import Message


def serve_env(database_url: str, fake_slack: FakeSlack, tmp_path: Path, port: int) -> dict[str, str]:
    """The environment of a `trustbot serve` talking to the fake Slack, with the sample directory."""
    directory = tmp_path / "directory.yml"
    directory.write_text(DIRECTORY_YAML)
    return {
        **clean_env(),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TRUSTBOT_DIRECTORY": str(directory),
        "TRUSTBOT_CHANNEL_PACE_SECONDS": "0",
        "TRUSTBOT_OUTBOX_POLL_SECONDS": "0.1",
        "TRUSTBOT_OUTBOX_LEASE_SECONDS": "2",
        "TRUSTBOT_SCHEDULER_ENABLED": "false",
    }


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Return once `predicate()` is true, polling every 50 ms; fail after `timeout` seconds."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def request_access(driver: SlackDriver, fake_slack: FakeSlack) -> tuple[Message, Message]:
    """The admin requests access; once the reps channel and the admin's DM have it, return the
    request's parent message in the reps channel and the reply holding its buttons."""
    await driver.command(ADMIN, "request")
    await wait_for(lambda: fake_slack.views(ADMIN))
    await driver.submit(
        ADMIN,
        fake_slack.views(ADMIN)[-1],
        members=[DEV],
        blanket=False,
        tier="standard",
        duration="30",
        use_case="Malware analysis",
        justification="Our SOC reverse-engineers samples daily.",
    )
    await wait_for(
        lambda: fake_slack.messages("C0REPS") and fake_slack.replies("C0REPS", fake_slack.messages("C0REPS")[0].ts)
    )
    parent = fake_slack.messages("C0REPS")[0]
    actions = fake_slack.replies("C0REPS", parent.ts)[0]
    await wait_for(lambda: fake_slack.dms(ADMIN))
    return parent, actions
