"""Operating signals: the outbox backlog, every Slack call timed, silent probes, and log lines that name
what they were about (the Slack request's fields, the ingest items, the real bind address)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from tests.support.alert_helpers import alert_bot, raise_alert
from tests.support.bots import RunningBot, start_bot
from tests.support.delivery_helpers import make_worker, queue
from tests.support.ingest import alert, post
from trustbot.handlers import ingest as ingest_handlers
from trustbot.logs import configure_logging
from trustbot.standin.sample import REP, SEC_LEAD
from trustbot.storage.tables import OutboxMessage


async def _scrape(bot: RunningBot) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.server.url}/metrics") as response:
        return await response.text()


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


async def test_outbox_backlog_counts_every_pending_row_by_lane_kind(
    database_url: str, fake_slack: Any, clock: Any
) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot:
        later, now = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC)
        async with bot.rt.db.transaction() as session:  # not due yet: waiting, never sent during the test
            for op, lane in [("post", "C0ACMESEC"), ("post", "C0ACMESEC"), ("reply", "C0OTHER"), ("dm", REP)]:
                session.add(OutboxMessage(op=op, channel=lane, payload={}, available_at=later, created_at=now))
        text = await _scrape(bot)
        assert 'trustbot_outbox_pending{kind="channel"} 3.0' in text
        assert 'trustbot_outbox_pending{kind="dm"} 1.0' in text
        await bot.rt.delivery.drain(timeout=1)  # lane heads (nothing due) leave the backlog as it is
        assert 'trustbot_outbox_pending{kind="channel"} 3.0' in await _scrape(bot)


async def test_a_backlog_kind_that_emptied_reads_zero(database_url: str, fake_slack: Any, clock: Any) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot:
        later, now = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC)
        async with bot.rt.db.transaction() as session:
            session.add(OutboxMessage(op="webhook", channel="wh:1", payload={}, available_at=later, created_at=now))
        assert 'trustbot_outbox_pending{kind="webhook"} 1.0' in await _scrape(bot)
        async with bot.rt.db.transaction() as session:
            await session.execute(update(OutboxMessage).values(status="sent"))
        assert 'trustbot_outbox_pending{kind="webhook"} 0.0' in await _scrape(bot)


async def test_every_slack_call_is_timed_listeners_views_included(
    database_url: str, fake_slack: Any, clock: Any
) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot:
        message = await raise_alert(bot)
        await bot.driver.click(SEC_LEAD, message, "Suspend access")
        await bot.settle()
        assert bot.slack.views(SEC_LEAD), "the click opened no modal"
        text = await _scrape(bot)
    assert 'trustbot_slack_api_seconds_count{method="views.open"} 1.0' in text
    assert re.search(r'trustbot_slack_api_seconds_count\{method="chat.postMessage"\} [1-9]', text)


@pytest.mark.parametrize(("level", "route"), [("INFO", "/healthz"), ("INFO", "/readyz"), ("DEBUG", "/readyz")])
async def test_probes_never_log(
    database_url: str, fake_slack: Any, clock: Any, caplog: pytest.LogCaptureFixture, level: str, route: str
) -> None:
    bot = await start_bot(database_url, fake_slack, clock)
    handler = configure_logging(level, "text")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.server.url}{route}") as response:  # warm: first-use lines are not the probe's
                assert response.status == 200
            caplog.clear()
            for _ in range(3):
                async with http.get(f"{bot.server.url}{route}") as response:
                    assert response.status == 200
        probe_lines = [r for r in caplog.records if not r.name.startswith(("sqlalchemy", "aiosqlite", "asyncpg"))]
        assert probe_lines == [], [(r.name, r.getMessage()) for r in probe_lines]
        assert not [r for r in caplog.records if r.name.startswith("alembic")]
    finally:
        logging.getLogger().removeHandler(handler)
        configure_logging("WARNING", "text")
        await bot.driver.close()
        await bot.server.stop()


async def test_a_failing_readiness_probe_logs_once_per_reason(
    bot: RunningBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> None:
        raise OSError("database is gone")

    monkeypatch.setattr(bot.rt.db, "ping", unreachable)
    async with aiohttp.ClientSession() as http:
        with caplog.at_level(logging.INFO):
            for _ in range(5):  # a probe every few seconds must not flood the log
                async with http.get(f"{bot.server.url}/readyz") as response:
                    assert response.status == 503
            monkeypatch.undo()
            async with http.get(f"{bot.server.url}/readyz") as response:
                assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "trustbot.handlers.http"]
    assert lines == [
        "readiness check failed: database is gone (logged again only when the reason changes)",
        "readiness check passes again",
    ]


async def test_a_failed_alert_ingest_line_names_its_items(
    database_url: str, fake_slack: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database fell over")

    async with alert_bot(database_url, fake_slack, clock) as bot:
        monkeypatch.setattr(ingest_handlers, "ingest_alert_requests", broken)
        handler = configure_logging("INFO", "json")
        try:
            capsys.readouterr()
            status, _ = await post(bot, {"alerts": [alert("a-7"), alert("a-8")]})
        finally:
            logging.getLogger().removeHandler(handler)
    assert status == 500
    [line] = [e for e in _json_lines(capsys) if e["message"] == "alert ingest failed"]
    assert line["items"] == ["a-7", "a-8"] and "database fell over" in line["exception"]


async def test_a_listener_line_carries_the_requests_fields(
    database_url: str, fake_slack: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot:
        handler = configure_logging("INFO", "json")
        try:
            capsys.readouterr()
            await bot.driver.click_in_view(SEC_LEAD, {"type": "home"}, "no_such_button", "1")
            await bot.settle()
        finally:
            logging.getLogger().removeHandler(handler)
    [line] = [e for e in _json_lines(capsys) if e["message"].startswith("no listener for action")]
    assert (line["action_id"], line["user"], line["logger"]) == ("no_such_button", SEC_LEAD, "trustbot.app")


async def test_start_up_logs_the_real_bind_address(
    database_url: str, fake_slack: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trustbot.web.server")
    bot = await start_bot(database_url, fake_slack, clock, HOST="0.0.0.0")
    try:
        port = bot.server.bind_addresses[0].rsplit(":", 1)[1]
        [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("trustbot listening on")]
    finally:
        await bot.driver.close()
        await bot.server.stop()
    assert line == f"trustbot listening on http://0.0.0.0:{port} (HTTP mode)"


async def test_delivery_counters_move_with_what_slack_answers(db: Any, fake_slack: Any) -> None:
    from trustbot.metrics import Metrics

    metrics = Metrics()
    worker = make_worker(db, fake_slack, timeout=1, metrics=metrics)
    fake_slack.fail("chat.postMessage", status=429, retry_after=0.1, times=1)
    await queue(db, ("post_message", {"channel": "C1", "key": "a", "message": "retried, then sent"}))
    await worker.drain(timeout=10)
    fake_slack.fail("chat.postMessage", error="channel_not_found", times=1)
    await queue(db, ("post_message", {"channel": "C2", "key": "b", "message": "refused"}))
    await worker.drain(timeout=10)
    fake_slack.answer_late("chat.postMessage", seconds=2.5)
    await queue(db, ("post_message", {"channel": "C3", "key": "c", "message": "late, then found"}))
    await worker.drain(timeout=20)
    text = metrics.render().decode()
    assert 'trustbot_outbox_sent_total{op="post"} 2.0' in text
    assert re.search(r'trustbot_outbox_retried_total\{reason="[^"]+"\} [1-9]', text)
    assert 'trustbot_outbox_failed_total{error="channel_not_found"} 1.0' in text
    assert re.search(r'trustbot_outbox_lookups_total\{result="[^"]+"\} 1.0', text)


async def test_every_slack_request_is_counted_by_kind(database_url: str, fake_slack: Any, clock: Any) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot:
        await bot.driver.command(SEC_LEAD, "help")
        await bot.settle()
        text = await _scrape(bot)
    assert 'trustbot_slack_requests_total{kind="command"} 1.0' in text
