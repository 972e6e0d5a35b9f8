"""SIGTERM: Trustbot stops taking work, finishes what it acknowledged, delivers what is due, and exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.bots import INGEST_SECRET, SIGNING_SECRET, RunningBot
from tests.support.child_serve import request_access, serve_env
from tests.support.processes import ServerProcess, free_port
from trustbot.standin.producers import ingest_headers
from trustbot.standin.sample import ADMIN, DEV, REP
from trustbot.standin.slack_requests import SlackDriver


def serve(database_url: str, fake_slack: Any, tmp_path: Path) -> ServerProcess:
    port = free_port()
    env = serve_env(database_url, fake_slack, tmp_path, port)
    return ServerProcess(
        "trustbot serve", [sys.executable, "-m", "trustbot", "serve"], env, port, tmp_path / "serve.log"
    )


@pytest.mark.drill
async def test_sigterm_during_a_burst_of_commands_answers_every_one_and_exits_0(
    database_url: str, fake_slack: Any, tmp_path: Path
) -> None:
    server = serve(database_url, fake_slack, tmp_path)
    await server.start()
    async with SlackDriver(server.url, SIGNING_SECRET, fake_slack) as driver:
        _, actions = await request_access(driver, fake_slack)
        fake_slack.response_delay = 1.0  # every answer is still on its way when the signal comes
        acks = await asyncio.gather(*(driver.command(ADMIN, "status") for _ in range(40)))
        assert [a.status for a in acks] == [200] * 40
        fake_slack.answer_late("chat.postMessage", seconds=0.5, times=5)
        assert (await driver.click(REP, actions, "Approve")).status == 200
        await asyncio.sleep(0.1)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.proc.wait(), 20) == 0
    answers = [r for r in fake_slack.responses if r["user"] == ADMIN]
    assert len(answers) == 40 and all(r["body"]["response_type"] == "ephemeral" for r in answers)
    # The approval committed before the signal; its Slack writes were delivered before the exit.
    assert len([m for m in fake_slack.dms(ADMIN) if "was approved" in m.text]) == 1
    assert len(fake_slack.dms(DEV)) == 1
    log = server.log.read_text()
    assert "shutdown started: finishing work in flight for up to 10s" in log
    assert "shutdown finished: all work in flight finished" in log


async def test_while_draining_new_work_is_refused_with_503(bot: RunningBot) -> None:
    bot.rt.draining = True
    command = await bot.driver.command(ADMIN, "help")
    assert (command.status, command.headers.get("Retry-After")) == (503, "5")
    body = b'{"id": "a", "org": "acme"}'
    async with aiohttp.ClientSession() as http:
        for route in ("/alerts", "/usage"):
            async with http.post(
                f"{bot.server.url}{route}", data=body, headers=ingest_headers(INGEST_SECRET, body)
            ) as r:
                assert r.status == 503
        async with http.get(f"{bot.server.url}/readyz") as ready, http.get(f"{bot.server.url}/healthz") as health:
            assert (ready.status, health.status) == (503, 200)
    assert bot.slack.ephemerals() == []
