"""Every log record of a full run at DEBUG (every logger: Trustbot's, Bolt's, slack_sdk's, aiohttp's,
SQLAlchemy's), formatted and raw (message, arguments, extras, traceback), holds no token, secret or
database password. Run over HTTP (request, approval, alert, acknowledgement, usage, a job) and over Socket
Mode (where the app token is in play)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.bots import RunningBot, start_bot
from tests.support.databases import PG_URL
from tests.support.ingest import alert, post, post_usage, usage
from tests.support.slack_flows import GOOD, approve_click, request_messages, submit_request_over_socket
from trustbot.clock import FixedClock
from trustbot.standin.gateway import FakeGateway
from trustbot.standin.sample import ADMIN, OUTSIDER, REP, SEC_LEAD
from trustbot.standin.slack_requests import SlackDriver

BOT_TOKEN = "xoxb-LEAKCHECK-bot-4f1c9e"
SIGNING = "LEAKCHECK-signing-7d2a0b"
APP_TOKEN = "xapp-1-LEAKCHECK-app-93be11"
INGEST = "LEAKCHECK-ingest-c08e55"
AUDIT_KEY = "LEAKCHECK-audit-5a61f2"
DB_PASSWORD = "LEAKCHECK-dbpass-e7710d"
API_TOKEN = "LEAKCHECK-api-31c0d4"
WEBHOOK_KEY = "LEAKCHECK-webhook-key-0b9e"  # the key; the setting is its base64 after `whsec_`
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY.encode()).decode()
SECRETS = (BOT_TOKEN, SIGNING, APP_TOKEN, INGEST, AUDIT_KEY, DB_PASSWORD, API_TOKEN, WEBHOOK_KEY, WEBHOOK_SECRET)


class Everything(logging.Handler):
    """Keeps every record as text: formatted with its traceback, and its raw parts."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.msg) + " " + repr(record.args) + repr(vars(record)))


@contextmanager
def everything_at_debug() -> Iterator[Everything]:
    """Root and the loggers that set their own level (SQLAlchemy's is WARN by default) at DEBUG."""
    root, handler = logging.getLogger(), Everything()
    loggers = [root, *(logging.getLogger(name) for name in ("sqlalchemy", "slack_sdk", "slack_bolt", "aiohttp"))]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def with_password(database_url: str) -> str:
    """The PostgreSQL URL with a password (the local server trusts 127.0.0.1, so any password works)."""
    if database_url.startswith("sqlite"):
        return database_url
    return database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


def leaks(lines: list[str]) -> list[str]:
    return [f"{secret} in: {line[:300]}" for line in lines for secret in SECRETS if secret in line]


async def http_story(bot: RunningBot) -> None:
    """Request, approval, alert, acknowledgement, usage and a job, as people and producers would."""
    await bot.driver.command(ADMIN, "request")
    await bot.settle()
    await bot.driver.submit(ADMIN, bot.slack.views(ADMIN)[-1], **GOOD)
    await bot.settle()
    await bot.driver.click(REP, request_messages(bot)[1], "Approve")
    assert (await post(bot, alert("leak-1", severity="high"), secret=INGEST))[0] == 202
    await bot.settle()
    await bot.driver.click(SEC_LEAD, bot.slack.messages("C0ACMESEC")[-1], "Acknowledge")
    assert (await post_usage(bot, usage("leak-u1"), secret=INGEST))[0] == 202
    assert (await post(bot, alert("leak-2"), secret=INGEST + "x"))[0] == 401  # a refusal is logged too
    await bot.driver.command(OUTSIDER, "status")
    await bot.settle()


@pytest.mark.skipif(PG_URL is None, reason="the password check needs TEST_DATABASE_URL (PostgreSQL)")
def test_the_password_really_is_in_the_url() -> None:
    assert DB_PASSWORD in with_password(PG_URL or "")


async def test_a_full_run_at_debug_logs_no_secret(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    gateway = await FakeGateway(secret=WEBHOOK_SECRET, api_token=API_TOKEN).start()
    secrets = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING,
        "TRUSTBOT_INGEST_SECRET": INGEST,
        "TRUSTBOT_AUDIT_KEY": AUDIT_KEY,
        "TRUSTBOT_API_TOKEN": API_TOKEN,
        "TRUSTBOT_WEBHOOK_URL": gateway.url,
        "TRUSTBOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TRUSTBOT_LOG_LEVEL": "DEBUG",
    }
    with everything_at_debug() as logs:
        bot = await start_bot(with_password(database_url), fake_slack, clock, **secrets)
        bot.driver = SlackDriver(bot.driver.url, SIGNING, fake_slack)
        gateway.api_base = bot.server.url
        try:
            await http_story(bot)
            assert (await gateway.ask("dana@acme.com"))["entitled"] is True  # the webhook signed, the API asked
            assert (await gateway.get("/v1/entitlements", {"email": "dana@acme.com"}, token="wrong"))[0] == 401
            assert "grant.activated" in gateway.types()
        finally:
            await bot.driver.close()
            await bot.server.stop()
            await gateway.stop()
    assert len(logs.lines) > 50  # DEBUG really was on: Bolt, slack_sdk and SQLAlchemy had their say
    assert any(r.startswith("slack_sdk") for r in logs.lines) and any("sqlalchemy" in r for r in logs.lines)
    assert not leaks(logs.lines)


async def test_socket_mode_at_debug_logs_no_app_token(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    with everything_at_debug() as logs:
        bot = await start_bot(
            with_password(database_url),
            fake_slack,
            clock,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_SIGNING_SECRET=None,
            SLACK_BOT_TOKEN=BOT_TOKEN,
        )
        try:
            await submit_request_over_socket(fake_slack)
            await bot.settle()
            actions = fake_slack.replies("C0REPS", fake_slack.messages("C0REPS")[-1].ts)[0]
            await fake_slack.send_envelope("interactive", approve_click(fake_slack, actions))
            await bot.settle()
        finally:
            await bot.driver.close()
            await bot.server.stop()
    assert any("socket" in r.lower() for r in logs.lines)
    assert not leaks(logs.lines)
