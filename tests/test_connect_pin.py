"""Trustbot pins the Request access message of an org's Slack Connect channel itself: once, after the post,
whatever restarts or lost answers happen, and when Slack will not pin it the operators are told. Through the
fake Slack on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import seed_directory
from tests.support.queries import audit_events
from tests.test_slack_connect import CONNECT_CHANNEL, CONNECT_YAML
from trustbot.clock import FixedClock
from trustbot.standin.fake_pins import pinned
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import OPERATOR


@pytest.fixture
async def bot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A Trustbot whose directory is not applied yet (each test applies it, with Slack programmed first)."""
    running = await start_bot(database_url, fake_slack, clock)
    yield running
    await running.close()


async def apply(bot: RunningBot) -> None:
    await seed_directory(bot.rt.db, bot.clock, CONNECT_YAML, config=bot.rt.settings)
    await bot.settle()


def pins_done(fake: FakeSlack) -> int:
    """How many pins.add calls Slack carried out (answered or not)."""
    return sum(1 for c in fake.calls("pins.add") if c.ok or c.carried_out)


async def test_applying_the_directory_posts_the_request_access_message_and_pins_it_once(bot: RunningBot) -> None:
    await apply(bot)
    await apply(bot)
    [message] = bot.slack.messages(CONNECT_CHANNEL)
    assert pinned(bot.slack, CONNECT_CHANNEL) == [message]
    [pin] = bot.slack.calls("pins.add")
    assert (pin["channel"], pin["timestamp"]) == (CONNECT_CHANNEL, message.ts)
    listed = await bot.rt.client.pins_list(channel=CONNECT_CHANNEL)
    assert [i["message"]["ts"] for i in listed["items"]] == [message.ts]
    assert bot.slack.dms(OPERATOR) == []


async def test_a_pin_whose_answer_was_lost_is_not_pinned_twice_and_counts_as_done(bot: RunningBot) -> None:
    bot.slack.drop_after("pins.add")  # Slack pins it; Trustbot never hears
    await apply(bot)
    [message] = bot.slack.messages(CONNECT_CHANNEL)
    assert pinned(bot.slack, CONNECT_CHANNEL) == [message]
    first, again = bot.slack.calls("pins.add")
    assert first.carried_out and again.ok is False and pins_done(bot.slack) == 1
    assert bot.slack.dms(OPERATOR) == []  # `already_pinned` is done, not a failure


async def test_the_pin_waits_for_a_post_slack_holds_back(bot: RunningBot) -> None:
    bot.slack.fail("chat.postMessage", status=429, retry_after=0.2, times=2)
    bot.slack.fail("chat.postMessage", status=500)
    await apply(bot)
    [message] = bot.slack.messages(CONNECT_CHANNEL)
    assert pinned(bot.slack, CONNECT_CHANNEL) == [message] and pins_done(bot.slack) == 1
    assert bot.slack.dms(OPERATOR) == []


@pytest.mark.parametrize("error", ["not_pinnable", "no_permission", "not_in_channel", "is_archived"])
async def test_a_pin_slack_refuses_is_given_up_and_the_operators_are_told(bot: RunningBot, error: str) -> None:
    bot.slack.fail("pins.add", error=error)
    await apply(bot)
    assert len(bot.slack.messages(CONNECT_CHANNEL)) == 1 and pinned(bot.slack, CONNECT_CHANNEL) == []
    assert len(bot.slack.calls("pins.add")) == 1  # given up at once, not retried
    [notice] = bot.slack.dms(OPERATOR)
    assert "Request access message of *Acme Security*" in notice.text and f"`{error}`" in notice.text
    assert "pin it yourself" in notice.text
    async with bot.rt.db.sessions() as session:
        [event] = await audit_events(session, action="connect.pin_failed")
    assert event.details["error"] == error and event.details["channel"] == CONNECT_CHANNEL
    await apply(bot)  # applying again neither posts nor pins again
    assert len(bot.slack.messages(CONNECT_CHANNEL)) == 1 and len(bot.slack.calls("pins.add")) == 1


async def test_a_post_slack_refuses_is_not_pinned_and_the_operators_hear_it_was_never_posted(bot: RunningBot) -> None:
    bot.slack.refuse_channel(CONNECT_CHANNEL)
    await apply(bot)
    assert bot.slack.messages(CONNECT_CHANNEL) == [] and bot.slack.calls("pins.add") == []
    [notice] = bot.slack.dms(OPERATOR)
    assert "was never posted" in notice.text
