"""Unacknowledge and Snooze end to end through signed HTTP and the fake Slack, and the buttons an alert
offers once its org's access is suspended by another alert."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.alert_helpers import CHANNEL, NOT_LEAD, alert_bot, last_text, raise_alert, thread
from tests.support.bots import START, RunningBot
from tests.support.factories import system
from tests.support.ingest import alert, alerts, post
from trustbot.clock import FixedClock
from trustbot.messages.text import slack_date
from trustbot.scheduler.jobs import run_alert_escalation
from trustbot.standin.sample import OPERATOR, REP, SEC_LEAD
from trustbot.storage.tables import AlertStatus, AuditEvent

ACKED = "<@U0SEC1> acknowledged this alert and owns it."
UNACKED = "<@U0OPS1> unacknowledged this alert; it is open again."
IDLE = "escalated 0 alert(s); 0 held-back alert message(s) caught up"


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    async with alert_bot(database_url, fake_slack, clock) as running:
        yield running


async def audited(bot: RunningBot) -> list[AuditEvent]:
    async with bot.rt.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action.like("alert.%")).order_by(AuditEvent.id)
        return list((await session.scalars(query)).all())


async def run_job(bot: RunningBot) -> str:
    outcome = await run_alert_escalation(bot.rt.db, system(bot.clock, bot.rt.settings))
    await bot.settle()
    return outcome


def status_line(bot: RunningBot, index: int = 0) -> str:
    blocks = bot.slack.messages(CHANNEL)[index].blocks
    return next(b["elements"][0]["text"] for b in blocks if "*Status:*" in json.dumps(b))


def slack_writes(bot: RunningBot) -> tuple[int, int, int]:
    return (
        len(bot.slack.calls_to("chat.postMessage")),
        len(bot.slack.calls_to("chat.update")),
        len(bot.slack.calls_to("conversations.open")),
    )


# -- unacknowledge ---------------------------------------------------------------------------


async def test_unacknowledge_returns_the_alert_to_open_audited_and_noted(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    await abot.driver.click(SEC_LEAD, message, "Acknowledge")
    await abot.settle()
    [message] = abot.slack.messages(CHANNEL)
    assert "Unacknowledge" in message.buttons() and "Acknowledge" not in message.buttons()
    await abot.driver.click(REP, message, "Unacknowledge")
    await abot.settle()
    assert last_text(abot) == NOT_LEAD  # deny by default: a rep leads no org's security
    await abot.driver.click(OPERATOR, message, "Unacknowledge")
    await abot.settle()
    assert last_text(abot) == f"Alert #1: done — {UNACKED}"
    [stored] = await alerts(abot)
    assert (stored.status, stored.owner) == (AlertStatus.OPEN, None)
    [message] = abot.slack.messages(CHANNEL)
    assert message.buttons()[:2] == ["Acknowledge", "Escalate"] and "Unacknowledge" not in message.buttons()
    assert status_line(abot) == "*Status:* Open"
    assert thread(abot, message) == [ACKED, UNACKED]
    assert [(e.action, e.actor) for e in await audited(abot)] == [
        ("alert.acknowledge", SEC_LEAD),
        ("alert.unacknowledge", OPERATOR),
    ]
    await abot.driver.click(OPERATOR, message, "Unacknowledge")  # a stale client still shows the button
    await abot.settle()
    assert last_text(abot) == ":no_entry: Alert #1 is already open; nothing changed."
    assert len(await audited(abot)) == 2
    # Open again means unattended again: the escalation job takes it up.
    abot.clock.advance(timedelta(minutes=16))
    assert (await run_job(abot)).startswith("escalated 1 alert(s)")
    assert (await alerts(abot))[0].status == AlertStatus.ESCALATED


# -- snooze ----------------------------------------------------------------------------------


async def test_snooze_mutes_repeats_and_escalation_until_it_ends(abot: RunningBot) -> None:
    until = START + timedelta(hours=4)
    message = await raise_alert(abot, severity="high")
    await abot.driver.choose(SEC_LEAD, message, "Snooze", "4 hours")
    await abot.settle()
    assert last_text(abot) == (
        f"Alert #1: snoozed until {slack_date(until)} — repeats are counted quietly and it will not escalate "
        "until then."
    )
    assert status_line(abot) == f"*Status:* Open · :zzz: snoozed until {slack_date(until)}"
    snooze_note = (
        f":zzz: <@U0SEC1> snoozed this alert until {slack_date(until)}: repeats are counted but not announced, "
        "and it does not escalate until then."
    )
    assert thread(abot, message) == [snooze_note]
    [event] = await audited(abot)
    assert (event.action, event.actor, event.details["hours"]) == ("alert.snooze", SEC_LEAD, 4)
    assert event.details["until"] == until.isoformat()
    writes, rep_dms = slack_writes(abot), len(abot.slack.dms(REP))

    # Repeats while snoozed: stored, counted and grouped (even two hours on, past the 60-minute
    # dedup window), but no post, no edit, no thread reply, no DM — not even the rep's critical one.
    assert (await post(abot, {"alerts": [alert("a-2", severity="high"), alert("a-3", severity="high")]}))[0] == 202
    await abot.settle()
    abot.clock.advance(timedelta(hours=2))
    later = (START + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert (await post(abot, alert("a-4", severity="critical", occurred_at=later)))[0] == 202
    await abot.settle()
    [stored] = await alerts(abot)
    assert (stored.occurrences, stored.severity) == (4, "critical")
    assert slack_writes(abot) == writes and len(abot.slack.dms(REP)) == rep_dms
    assert thread(abot, message) == [snooze_note]

    # Escalation waits: two hours unacknowledged, but snoozed.
    assert await run_job(abot) == IDLE
    assert (await alerts(abot))[0].status == AlertStatus.OPEN and thread(abot, message) == [snooze_note]

    # The snooze ends: the message catches up, the thread says so, and escalation resumes at once.
    abot.clock.advance(timedelta(hours=2, minutes=1))
    assert await run_job(abot) == "escalated 1 alert(s); 0 held-back alert message(s) caught up; 1 snooze(s) ended"
    [stored] = await alerts(abot)
    assert (stored.status, stored.snoozed_until) == (AlertStatus.ESCALATED, None)
    assert "snoozed" not in status_line(abot) and "*Occurrences*\\n4" in json.dumps(
        abot.slack.messages(CHANNEL)[0].blocks
    )
    assert thread(abot, message) == [
        snooze_note,
        ":alarm_clock: The snooze ended: alert #1 is active again (4 occurrences so far, last seen "
        f"{slack_date(START + timedelta(hours=2))}).",
        ":rotating_light: Alert #1 is *escalated*: unacknowledged for 15 minutes. <@U0SEC1>, <@U0REP1>",
    ]
    assert [e.action for e in await audited(abot)] == ["alert.snooze", "alert.snooze_ended", "alert.escalate"]
    assert await run_job(abot) == IDLE  # nothing twice


async def test_snooze_is_refused_to_non_leads_and_on_closed_alerts(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    await abot.driver.choose(REP, message, "Snooze", "1 hour")
    await abot.settle()
    assert last_text(abot) == NOT_LEAD
    await abot.driver.click(SEC_LEAD, message, "Resolve")
    await abot.settle()
    await abot.driver.choose(SEC_LEAD, message, "Snooze", "24 hours")  # the select as a stale client shows it
    await abot.settle()
    assert last_text(abot).startswith(":no_entry: Alert #1 is already resolved by <@U0SEC1>")
    [stored] = await alerts(abot)
    assert stored.snoozed_until is None
    assert [e.action for e in await audited(abot)] == ["alert.resolve"]


async def test_a_repeat_after_the_snooze_ended_is_announced_again(abot: RunningBot) -> None:
    message = await raise_alert(abot, severity="medium")
    await abot.driver.choose(SEC_LEAD, message, "Snooze", "1 hour")
    await abot.settle()
    abot.clock.advance(timedelta(minutes=30))
    await post(abot, alert("a-2"))
    await abot.settle()
    updates = len(abot.slack.calls_to("chat.update"))
    abot.clock.advance(timedelta(minutes=31))  # over, though the job has not run yet
    await post(abot, alert("a-3"))
    await abot.settle()
    assert len(abot.slack.calls_to("chat.update")) > updates
    assert "*Occurrences*\\n3" in json.dumps(abot.slack.messages(CHANNEL)[0].blocks)
    assert "snoozed" not in status_line(abot)


# -- suspended elsewhere ---------------------------------------------------------------------


async def test_once_the_org_is_suspended_no_alert_of_it_offers_suspend_access(abot: RunningBot) -> None:
    first = await raise_alert(abot, id="a-1", signal="exfiltration")
    second = await raise_alert(abot, id="b-1", signal="jailbreak")
    assert all("Suspend access" in m.buttons() for m in abot.slack.messages(CHANNEL))
    await abot.driver.click(OPERATOR, second, "Suspend access")  # an operator opens the second one's confirmation
    await abot.settle()
    racing = abot.slack.views(OPERATOR)[-1]
    await abot.driver.click(SEC_LEAD, first, "Suspend access")
    await abot.settle()
    await abot.driver.submit(SEC_LEAD, abot.slack.views(SEC_LEAD)[-1], reason="Confirmed exfiltration")
    await abot.settle()
    late = await abot.driver.submit(OPERATOR, racing, reason="Same actor")  # … and confirms after the lead did
    await abot.settle()
    assert "already suspended by a security action" in json.dumps(late.json)
    assert [e.action for e in await audited(abot)] == ["alert.suspend_access"]
    [_, stored] = await alerts(abot)
    assert stored.suspended_by is None
    first, second = abot.slack.messages(CHANNEL)
    assert "Suspend access" not in first.buttons() and "Suspend access" not in second.buttons()
    assert status_line(abot, 1) == (
        "*Status:* Open\n:lock: The org's access is already suspended (every grant, by a security action)."
    )
    views = len(abot.slack.views(SEC_LEAD))
    await abot.driver.click(SEC_LEAD, second, "Suspend access")  # a stale client still shows it
    await abot.settle()
    assert last_text(abot) == (
        ":no_entry: Every grant of `acme` is already suspended by a security action; nothing changed."
    )
    assert len(abot.slack.views(SEC_LEAD)) == views
