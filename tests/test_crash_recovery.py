"""`trustbot serve` killed with SIGKILL after a decision committed but before Slack got it:
after a restart every message is delivered exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.bots import SIGNING_SECRET
from tests.support.child_serve import request_access, serve_env, wait_for
from tests.support.processes import ServerProcess, free_port
from trustbot.standin.sample import ADMIN, DEV, REP


@pytest.mark.drill
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
        # Approve asks users.info about the named members first (a read); no write reached Slack.
        written = [c.method for c in fake_slack.calls[sent_before:] if c.method.startswith("chat.")]
        assert written == [], "nothing reached Slack before the kill"

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
