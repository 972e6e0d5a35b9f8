"""The alert-escalation job end to end: unacknowledged alerts escalate once, acknowledged ones never,
and a post Slack refuses moves to the default channel, then stops and tells the operators once."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.alert_helpers import CHANNEL, alert_bot, raise_alert, thread
from tests.support.bots import START, RunningBot
from tests.support.factories import system
from tests.support.ingest import alert, alerts, post
from trustbot.clock import FixedClock
from trustbot.scheduler.jobs import run_alert_escalation
from trustbot.standin.sample import OPERATOR, SEC_LEAD
from trustbot.storage.tables import AlertStatus


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    async with alert_bot(database_url, fake_slack, clock) as running:
        yield running


async def test_escalation_job_via_jobs_run_now(abot: RunningBot) -> None:
    from trustbot.scheduler.cli import run_jobs_command

    message = await raise_alert(abot, severity="critical", id="e-1")
    await post(abot, alert("e-2", signal="medium-one", severity="medium"))
    await abot.settle()
    settings = abot.rt.settings

    async def run_at(at: datetime) -> None:
        args = argparse.Namespace(
            jobs_command="run", name="alert-escalation", now=at.isoformat().replace("+00:00", "Z")
        )
        assert await run_jobs_command(settings, args) == 0

    await run_at(START + timedelta(minutes=10))
    assert [a.status for a in await alerts(abot)] == [AlertStatus.OPEN, AlertStatus.OPEN]
    await run_at(START + timedelta(minutes=16))
    await abot.settle()
    assert [a.status for a in await alerts(abot)] == [AlertStatus.ESCALATED, AlertStatus.OPEN]
    notes = thread(abot, message)
    assert notes == [":rotating_light: Alert #1 is *escalated*: unacknowledged for 15 minutes. <@U0SEC1>, <@U0REP1>"]
    told = [m.text for m in abot.slack.dms(OPERATOR) if "without acknowledgement" in m.text]
    assert told == [
        ":rotating_light: CRITICAL alert #1 for *Acme Security* (acme) (exfiltration) "
        "has gone 15 minutes without acknowledgement."
    ]
    await run_at(START + timedelta(minutes=17))  # nothing twice
    await abot.settle()
    assert thread(abot, message) == notes
    assert [m.text for m in abot.slack.dms(OPERATOR) if "without acknowledgement" in m.text] == told


async def test_acknowledged_alerts_do_not_escalate(abot: RunningBot) -> None:
    message = await raise_alert(abot, severity="high")
    await abot.driver.click(SEC_LEAD, message, "Acknowledge")
    await abot.settle()
    abot.clock.advance(timedelta(minutes=30))
    outcome = await run_alert_escalation(abot.rt.db, system(abot.clock, abot.rt.settings))
    assert outcome == "escalated 0 alert(s); 0 held-back alert message(s) caught up"
    assert (await alerts(abot))[0].status == AlertStatus.ACKNOWLEDGED


async def test_a_post_given_up_for_another_reason_is_posted_again_in_the_default_channel(
    abot: RunningBot,
) -> None:
    """The safety net: any post delivery gave up on is shown again, in the default channel, by the next job run."""
    abot.slack.fail("chat.postMessage", error="invalid_arguments", times=1, channel=CHANNEL)
    assert (await post(abot, alert("lost-1", severity="high")))[0] == 202
    await abot.settle()
    assert abot.slack.messages(CHANNEL) == []
    await run_alert_escalation(abot.rt.db, system(abot.clock, abot.rt.settings))
    await abot.settle()
    [moved] = abot.slack.messages("C0SEC")
    assert "Bulk download" in json.dumps(moved.blocks)


async def test_when_no_channel_takes_an_alert_people_are_told_once_and_posting_stops(abot: RunningBot) -> None:
    abot.slack.refuse_channel(CHANNEL, "channel_not_found")
    abot.slack.refuse_channel("C0SEC", "not_in_channel")
    assert (await post(abot, alert("lost-1", severity="high")))[0] == 202
    await abot.settle()
    for _ in range(4):  # later job runs must neither post again nor tell again
        await run_alert_escalation(abot.rt.db, system(abot.clock, abot.rt.settings))
        await abot.settle()
    posts = [c.args.get("channel") for c in abot.slack.calls_to("chat.postMessage")]
    # refused in acme's channel, rerouted to the default one, refused there too — and no more
    assert [channel for channel in posts if channel in (CHANNEL, "C0SEC")] == [CHANNEL, "C0SEC"]
    for person in (OPERATOR, SEC_LEAD):
        told = [m for m in abot.slack.dms(person) if "No channel would take it" in m.text]
        assert len(told) == 1, person
