"""`trustbot serve` killed with SIGKILL after a decision committed but before Slack got it:
after a restart every message is delivered exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.bots import SIGNING_SECRET
from tests.support.processes import ServerProcess, clean_env, free_port
from trustbot.standin.sample import ADMIN, DEV, DIRECTORY_YAML, REP


async def test_messages_survive_sigkill_and_are_sent_exactly_once(
    database_url: str, fake_slack: Any, tmp_path: Path
) -> None:
    from trustbot.standin.slack_requests import SlackDriver

    port = free_port()
    env = serve_env(database_url, fake_slack, tmp_path, port)
    server = ServerProcess(
        "trustbot serve", [sys.executable, "-m", "trustbot", "serve"], env, port, tmp_path / "serve.log"
    )
    driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, fake_slack)
    try:
        await server.start()
        parent, actions = await request_access(driver, fake_slack)
        sent_before = len(fake_slack.calls)

        # Slack stops answering: the decision commits, its deliveries hang, then the process dies.
        fake_slack.hang("chat.postMessage", times=100)
        fake_slack.hang("chat.update", times=100)
        response = await driver.click(REP, actions, "Approve")
        assert response.status == 200
        await wait_for(lambda: fake_slack.hung_calls)
        await asyncio.sleep(0.3)
        await server.kill()
        assert len(fake_slack.calls) == sent_before, "nothing reached Slack before the kill"

        fake_slack.release()  # Slack answers again (calls hung before the kill get a 503 nobody reads)
        await server.start()
        await wait_for(lambda: any("approved" in m.text.lower() for m in fake_slack.dms(ADMIN)), timeout=20)
        await asyncio.sleep(3)  # past a lease: anything sent twice would show up now
    finally:
        await driver.close()
        await server.stop()

    writes = [
        (c.method, c.args.get("channel"), c.args.get("ts"), c.args.get("thread_ts"), json.dumps(c.args.get("text")))
        for c in fake_slack.calls[sent_before:]
        if c.ok and c.method in ("chat.postMessage", "chat.update")  # lookups before re-posting are reads
    ]
    duplicates = [w for w, n in Counter(writes).items() if n > 1]
    assert not duplicates, duplicates
    updates = [c for c in fake_slack.calls[sent_before:] if c.method == "chat.update" and c.ok]
    assert {c.args["ts"] for c in updates} == {parent.ts, actions.ts}
    assert len([m for m in fake_slack.dms(ADMIN) if "approved" in m.text.lower()]) == 1
    assert len(fake_slack.dms(DEV)) == 1
    assert len(fake_slack.replies("C0REPS", parent.ts)) == 2


def serve_env(database_url: str, fake_slack: Any, tmp_path: Path, port: int) -> dict[str, str]:
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


async def request_access(driver: Any, fake_slack: Any) -> tuple[Any, Any]:
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


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
