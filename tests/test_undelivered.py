"""Channel refusals reach people: an alert Slack will not post in its org's channel shows in the default
security channel with the reason, and its security leads (operators too, for critical) are told; a request
the reps channel refuses is brought to the operators."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.alert_helpers import CHANNEL, alert_bot
from tests.support.bots import RunningBot
from tests.support.ingest import alert, post
from tests.support.slack_flows import open_and_submit
from trustbot.clock import FixedClock
from trustbot.standin.sample import OPERATOR, SEC_LEAD
from trustbot.storage.tables import AuditEvent

DEFAULT = "C0SEC"


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    async with alert_bot(database_url, fake_slack, clock) as running:
        yield running


async def audited(bot: RunningBot, action: str) -> list[dict[str, Any]]:
    async with bot.rt.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [dict(r.details) for r in rows.all()]


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived", "restricted_action"])
async def test_a_refused_alert_channel_moves_the_alert_to_the_default_channel(abot: RunningBot, error: str) -> None:
    abot.slack.refuse_channel(CHANNEL, error)
    assert (await post(abot, alert("a-1", severity="high")))[0] == 202
    await abot.settle()
    assert abot.slack.messages(CHANNEL) == []
    [shown] = abot.slack.messages(DEFAULT)
    rendered = json.dumps(shown.blocks)
    assert f"Shown here because Slack refused to post it in <#{CHANNEL}> ({error})." in rendered
    assert "Acknowledge" in shown.buttons()
    [told] = abot.slack.dms(SEC_LEAD)
    assert told.text.startswith(":warning: Slack refused to post HIGH alert #1 for")
    assert f"in <#{CHANNEL}> (`{error}`): invite Trustbot there. It is shown in <#{DEFAULT}> instead." in told.text
    assert abot.slack.dms(OPERATOR) == []  # high: the leads act; operators are told for critical
    assert await audited(abot, "alert.rerouted") == [
        {"org": "acme", "refused_channel": CHANNEL, "error": error, "shown_in": DEFAULT}
    ]


async def test_a_critical_alert_refused_by_its_channel_tells_the_operators_too(abot: RunningBot) -> None:
    abot.slack.refuse_channel(CHANNEL)
    assert (await post(abot, alert("a-1", severity="critical")))[0] == 202
    await abot.settle()
    assert len(abot.slack.messages(DEFAULT)) == 1
    assert [m.text[:40] for m in abot.slack.dms(OPERATOR)] == [":warning: Slack refused to post CRITICAL"]
    assert len(abot.slack.dms(SEC_LEAD)) == 1


async def test_an_alert_no_channel_takes_is_told_to_leads_and_operators_directly(abot: RunningBot) -> None:
    abot.slack.refuse_channel(CHANNEL)
    abot.slack.refuse_channel(DEFAULT, "is_archived")
    assert (await post(abot, alert("a-1", severity="high", summary="Bulk download of weights")))[0] == 202
    await abot.settle()
    assert abot.slack.messages(CHANNEL) == abot.slack.messages(DEFAULT) == []
    for person in (SEC_LEAD, OPERATOR):
        texts = [m.text for m in abot.slack.dms(person)]
        assert [t for t in texts if "No channel would take it" in t and "Bulk download of weights" in t], texts
    assert [d["shown_in"] for d in await audited(abot, "alert.rerouted")] == [DEFAULT, None]


async def test_actions_on_a_rerouted_alert_update_it_where_it_is_shown(abot: RunningBot) -> None:
    abot.slack.refuse_channel(CHANNEL)
    assert (await post(abot, alert("a-1", severity="high")))[0] == 202
    await abot.settle()
    [shown] = abot.slack.messages(DEFAULT)
    await abot.driver.click(SEC_LEAD, shown, "Acknowledge")
    await abot.settle()
    [shown] = abot.slack.messages(DEFAULT)
    assert "Acknowledged" in json.dumps(shown.blocks)
    assert len(abot.slack.replies(DEFAULT, shown.ts)) == 1


async def test_a_request_the_reps_channel_refuses_is_brought_to_the_operators(bot: RunningBot) -> None:
    bot.slack.refuse_channel("C0REPS")
    await open_and_submit(bot)
    assert bot.slack.messages("C0REPS") == []
    [told] = bot.slack.dms(OPERATOR)
    assert told.text.startswith(":warning: Slack refused to post access request #1 in <#C0REPS> (`not_in_channel`)")
    assert "Invite Trustbot to <#C0REPS>" in told.text
    assert await audited(bot, "request.undelivered") == [
        {"refused_channel": "C0REPS", "error": "not_in_channel", "told": [OPERATOR]}
    ]


async def test_the_start_up_check_names_the_configured_channels_that_refuse_posts(
    database_url: str, fake_slack: Any, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.bots import start_bot

    fake_slack.refuse_channel(CHANNEL, "not_in_channel")
    fake_slack.refuse_channel("C0REPS", "is_archived")
    running = await start_bot(database_url, fake_slack, clock)
    try:
        # The directory was applied after start: check again, as the next start would.
        from trustbot.slack.preflight import report_unpostable_channels

        caplog.clear()
        with caplog.at_level("WARNING", logger="trustbot.slack.preflight"):
            await report_unpostable_channels(running.rt.db, running.rt.people_client)
    finally:
        await running.driver.close()
        await running.server.stop()
    assert sorted(r.getMessage() for r in caplog.records if r.name == "trustbot.slack.preflight") == [
        "Trustbot cannot post in configured channel C0ACMESEC: the bot is not a member: invite Trustbot to it",
        "Trustbot cannot post in configured channel C0REPS: archived",
    ]
