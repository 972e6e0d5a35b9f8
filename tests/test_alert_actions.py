"""Alert actions end to end through signed HTTP and the fake Slack: acknowledge, escalate, resolve,
false positive and suspend access, who may take them, and the `/trust alerts` listing."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.support.alert_helpers import (
    CHANNEL,
    NOT_LEAD,
    alert_bot,
    grants,
    last_response,
    last_text,
    raise_alert,
    thread,
)
from tests.support.bots import RunningBot, count, start_bot
from tests.support.factories import acting
from tests.support.ingest import alert, alerts, post
from trustbot.clock import FixedClock
from trustbot.ids import Block
from trustbot.services.reverification.attest import submit_reverification
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP, SEC_LEAD
from trustbot.storage.tables import AlertStatus, AuditEvent, Grant, GrantStatus, OutboxMessage

NOT_IN_DIRECTORY = (
    ":no_entry: You're not in the Trustbot directory, so I can't act on alerts. Ask your account rep to add you."
)


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    async with alert_bot(database_url, fake_slack, clock) as running:
        yield running


# -- actions -------------------------------------------------------------------------------


async def test_acknowledge_sets_owner_updates_in_place_and_records_in_thread(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    await abot.driver.click(SEC_LEAD, message, "Acknowledge")
    await abot.settle()
    assert last_text(abot) == "Alert #1: done — <@U0SEC1> acknowledged this alert and owns it."
    [message] = abot.slack.messages(CHANNEL)
    assert "Acknowledged" in json.dumps(message.blocks) and "<@U0SEC1>" in json.dumps(message.blocks)
    assert thread(abot, message) == ["<@U0SEC1> acknowledged this alert and owns it."]
    [stored] = await alerts(abot)
    assert (stored.status, stored.owner) == (AlertStatus.ACKNOWLEDGED, SEC_LEAD)
    # A second click changes nothing and says so.
    before = (await count(abot, OutboxMessage), await count(abot, AuditEvent))
    await abot.driver.click(SEC_LEAD, message, "Acknowledge")
    await abot.settle()
    assert last_text(abot) == ":no_entry: Alert #1 is already acknowledged; nothing changed."
    assert (await count(abot, OutboxMessage), await count(abot, AuditEvent)) == before


@pytest.mark.parametrize(
    ("button", "action", "status", "verb", "closed"),
    [
        ("Escalate", "escalate", AlertStatus.ESCALATED, "escalated this alert", False),
        ("Resolve", "resolve", AlertStatus.RESOLVED, "resolved this alert", True),
        ("False positive", "false_positive", AlertStatus.FALSE_POSITIVE, "marked this alert a false positive", True),
    ],
)
async def test_each_transition(
    abot: RunningBot, button: str, action: str, status: str, verb: str, closed: bool
) -> None:
    message = await raise_alert(abot)
    await abot.driver.click(OPERATOR, message, button)
    await abot.settle()
    assert last_text(abot) == f"Alert #1: done — <@U0OPS1> {verb}."
    [stored] = await alerts(abot)
    assert stored.status == status
    [message] = abot.slack.messages(CHANNEL)
    has_buttons = "actions" in [b["type"] for b in message.blocks]
    assert has_buttons is not closed  # closed: buttons gone; escalated: still actionable
    expected_thread = [f"<@U0OPS1> {verb}."]
    if action == "escalate":  # a manual escalation also mentions the org's security leads and rep
        expected_thread.append(":rotating_light: Escalated: <@U0SEC1>, <@U0REP1>")
    assert thread(abot, message) == expected_thread
    async with abot.rt.db.sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("alert.%")))).all()
    assert list(actions) == [f"alert.{action}"]


async def test_closed_alert_refuses_further_actions(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    stale = copy.deepcopy(message)  # a copy of the message as someone else's client still shows it
    await abot.driver.click(SEC_LEAD, message, "Resolve")
    await abot.settle()
    await abot.driver.click(SEC_LEAD, stale, "Acknowledge")
    await abot.settle()
    assert (
        last_text(abot) == ":no_entry: Alert #1 is already resolved by <@U0SEC1> on "
        "<!date^1793610000^{date_short_pretty} {time}|2026-11-02 09:00 UTC>; nothing changed."
    )
    [stored] = await alerts(abot)
    assert stored.status == AlertStatus.RESOLVED


@pytest.mark.parametrize("user", [OUTSIDER, REP, ADMIN, GLOBEX_ADMIN])
async def test_only_security_leads_and_operators_may_act(abot: RunningBot, user: str) -> None:
    refusal = NOT_IN_DIRECTORY if user == OUTSIDER else NOT_LEAD  # OUT is in no org; the others are, but lead none
    message = await raise_alert(abot)
    before = len(abot.slack.replies(CHANNEL, message.ts))
    for button in ("Acknowledge", "Escalate", "Resolve", "False positive", "Suspend access"):
        answers = len(abot.slack.responses)
        response = await abot.driver.click(user, message, button)
        assert response.status == 200 and response.elapsed < 1.0, (button, response.elapsed)  # Slack gives up at 3 s
        await abot.settle()
        assert len(abot.slack.responses) == answers + 1, button
        assert last_text(abot) == refusal, button
    [stored] = await alerts(abot)
    assert stored.status == AlertStatus.OPEN and stored.suspended_by is None
    assert len(abot.slack.replies(CHANNEL, message.ts)) == before
    assert abot.slack.views(user) == []
    assert all(g.status != GrantStatus.SUSPENDED for g in await grants(abot))


async def test_unknown_org_alert_only_operators_act(abot: RunningBot) -> None:
    assert (await post(abot, alert("u-1", org="initech", severity="high")))[0] == 202
    await abot.settle()
    [message] = abot.slack.messages("C0SEC")
    await abot.driver.click(SEC_LEAD, message, "Acknowledge")
    await abot.settle()
    assert last_text(abot) == NOT_LEAD  # a lead of acme is no lead of an org the directory lacks
    assert (await alerts(abot))[0].status == AlertStatus.OPEN
    await abot.driver.click(OPERATOR, message, "Acknowledge")
    await abot.settle()
    assert (await alerts(abot))[0].status == AlertStatus.ACKNOWLEDGED


async def test_alerts_command_lists_open_alerts_including_low(abot: RunningBot) -> None:
    await post(
        abot,
        {"alerts": [alert("l", signal="quiet-low", severity="low"), alert("h", signal="loud-high", severity="high")]},
    )
    await abot.settle()
    await abot.driver.command(SEC_LEAD, "alerts")
    await abot.settle()
    listing = last_response(abot)
    assert "quiet-low" in listing and "loud-high" in listing
    await abot.driver.command(OUTSIDER, "alerts acme")
    await abot.settle()
    assert last_text(abot) == (
        ":no_entry: You're not in the Trustbot directory, so I can't show alerts. Ask your account rep to add you."
    )
    await abot.driver.command(OPERATOR, "alerts acme")
    await abot.settle()
    assert "quiet-low" in last_response(abot)


@pytest.mark.parametrize("sent", ["ACME", " acme ", "\uff41\uff43\uff4d\uff45"])  # the last is fullwidth ａｃｍｅ
async def test_an_org_sent_in_capitals_spaces_or_fullwidth_is_that_orgs_alert(abot: RunningBot, sent: str) -> None:
    message = await raise_alert(abot, org=sent)
    shown = message.text + json.dumps(message.blocks)
    assert "Acme Security" in shown and "unknown org" not in shown and abot.slack.messages("C0SEC") == []
    assert "<@U0SEC1>" in shown and "Suspend access" in shown  # its security leads hear, and can suspend
    [stored] = await alerts(abot)
    assert stored.org_id is not None and stored.org_slug == sent  # kept as it was sent, for audit
    await abot.driver.click(SEC_LEAD, message, "Suspend access")
    await abot.settle()
    await abot.driver.submit(SEC_LEAD, abot.slack.views(SEC_LEAD)[-1], reason="Confirmed exfiltration")
    await abot.settle()
    assert [g.status for g in await grants(abot)][:2] == [GrantStatus.SUSPENDED] * 2


async def test_an_org_that_only_looks_like_a_known_one_stays_unknown(abot: RunningBot) -> None:
    assert (await post(abot, alert("x-1", org="acme-x", severity="high")))[0] == 202
    await abot.settle()
    [message] = abot.slack.messages("C0SEC")
    shown = message.text + json.dumps(message.blocks)
    assert "acme-x" in shown and "unknown org" in shown and "Suspend access" not in shown
    assert "<@U0SEC1>" not in shown and abot.slack.messages(CHANNEL) == []


# -- suspending access ----------------------------------------------------------------------


async def test_suspend_access_confirms_suspends_tells_audits_and_shows(abot: RunningBot) -> None:
    message = await raise_alert(abot, severity="critical")
    await abot.driver.click(SEC_LEAD, message, "Suspend access")
    await abot.settle()
    modal = abot.slack.views(SEC_LEAD)[-1]
    empty = await abot.driver.submit(SEC_LEAD, modal, reason="")
    await abot.settle()
    assert empty.json == {"response_action": "errors", "errors": {Block.REASON: "Give a reason."}}
    assert all(g.status != GrantStatus.SUSPENDED for g in await grants(abot))
    await abot.driver.submit(SEC_LEAD, modal, reason="Confirmed exfiltration <!channel>")
    await abot.settle()
    statuses = [(g.status, g.suspended_reason, g.suspension_note) for g in await grants(abot)]
    assert statuses[:2] == [(GrantStatus.SUSPENDED, "security_action", "Confirmed exfiltration <!channel>")] * 2
    assert statuses[2][0] == GrantStatus.REVOKED
    for person in (REP, ADMIN, ADMIN2):  # each told once, with the reason
        told = [m.text for m in abot.slack.dms(person) if "suspended" in m.text]
        assert len(told) == 1 and "(2 active grants)" in told[0] and "Confirmed exfiltration" in told[0], person
    [message] = abot.slack.messages(CHANNEL)
    shown = json.dumps(message.blocks)
    assert "Access suspended" in shown and "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert thread(abot, message) == [
        "<@U0SEC1> suspended the org's access (2 active grants).\n> Confirmed exfiltration &lt;!channel&gt;"
    ]
    async with abot.rt.db.sessions() as session:
        audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.suspend_access"))).all()
    assert len(audit) == 1 and audit[0].actor == SEC_LEAD and len(audit[0].details["grants"]) == 2
    # Suspending is acting on the alert: it counts as acknowledged by whoever suspended.
    [stored] = await alerts(abot)
    assert (stored.status, stored.owner, stored.suspended_by) == (AlertStatus.ACKNOWLEDGED, SEC_LEAD, SEC_LEAD)
    # Again: refused, nothing changes.
    views = len(abot.slack.views(SEC_LEAD))
    await abot.driver.click(SEC_LEAD, message, "Suspend access")
    await abot.settle()
    assert last_text(abot) == ":no_entry: Access was already suspended for alert #1 by <@U0SEC1>; nothing changed."
    assert len(abot.slack.views(SEC_LEAD)) == views


async def test_security_suspension_outranks_a_missed_reverification(abot: RunningBot) -> None:
    async with abot.rt.db.transaction() as session:  # the first grant already lapsed its re-verification
        await session.execute(
            update(Grant)
            .where(Grant.id == 1)
            .values(status=GrantStatus.SUSPENDED, suspended_reason="missed_reverification")
        )
    message = await raise_alert(abot, severity="critical")
    await abot.driver.click(SEC_LEAD, message, "Suspend access")
    await abot.settle()
    await abot.driver.submit(SEC_LEAD, abot.slack.views(SEC_LEAD)[-1], reason="Confirmed misuse")
    await abot.settle()
    assert [(g.status, g.suspended_reason) for g in (await grants(abot))[:2]] == [
        (GrantStatus.SUSPENDED, "security_action")
    ] * 2
    async with abot.rt.db.transaction() as session:  # the customer's admin re-verifies: that must not lift it
        admin = await acting(session, ADMIN, abot.clock, abot.rt.settings)
        done = await submit_reverification(
            session, admin, grant_id=1, members=[DEV], attestations={"roster", "use_case"}
        )
    assert done.restored is False
    first = (await grants(abot))[0]
    assert (first.status, first.suspended_reason) == (GrantStatus.SUSPENDED, "security_action")


async def test_an_org_without_live_grants_cannot_be_suspended(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    """Nothing to suspend: the button is not offered, and a forged click is refused without audit or DMs."""
    from trustbot.ids import Action
    from trustbot.slack.payloads import AlertRef
    from trustbot.standin.slack_requests import block_actions_body
    from trustbot.storage.tables import AuditEvent

    bot = await start_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS=0)  # no grants seeded
    try:
        message = await raise_alert(bot)
        assert "Suspend access" not in message.buttons() and "Acknowledge" in message.buttons()
        body = block_actions_body(
            user_id=SEC_LEAD,
            action_id=Action.ALERT_SUSPEND,
            value=AlertRef(alert_id=1).model_dump_json(),
            channel_id=CHANNEL,
            message_ts=message.ts,
            trigger_id=fake_slack.new_trigger_id(SEC_LEAD),
            response_url=fake_slack.new_response_url(SEC_LEAD, CHANNEL, message.ts),
        )
        assert (await bot.driver.post_signed(body)).status == 200
        await bot.settle()
        assert [e["text"] for e in fake_slack.ephemerals(SEC_LEAD)] == [
            ":no_entry: `acme` has no live grants: there is no access to suspend."
        ]
        assert fake_slack.views(SEC_LEAD) == [] and fake_slack.dms(REP) == []
        async with bot.rt.db.sessions() as session:
            actions = (await session.scalars(select(AuditEvent.action))).all()
        assert "alert.suspend_access" not in actions
    finally:
        await bot.driver.close()
        await bot.server.stop()
