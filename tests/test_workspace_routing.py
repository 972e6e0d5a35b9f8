"""Every outbound Slack write goes through the workspace it belongs to: a bound org's alerts and its people's
DMs with its installation's token, the reps' card at home; an ended or refused installation's writes are
held and delivered, once and in order, when it is installed again. Through real HTTP, two workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.support.alert_helpers import CHANNEL
from tests.support.bots import RunningBot
from tests.support.factories import make_grant
from tests.support.ingest import alert, post
from tests.support.installs import ACME_TEAM, Browser, issue_link, start_installing_bot, workspaces
from tests.support.slack_flows import GOOD, REPS_CHANNEL, request_messages
from trustbot.clock import FixedClock
from trustbot.scheduler.runs import run_job
from trustbot.services.installs.workspaces import list_installations
from trustbot.slack.preflight import HELD, unpostable_channels
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, OPERATOR, REP, SEC_LEAD
from trustbot.standin.slack_requests import SlackDriver
from trustbot.storage.tables import Grant, OutboxMessage

SIGNING_SECRET = "test-signing-secret"
ACME_KEY = f":{ACME_TEAM}"


@pytest.fixture
async def ibot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """Trustbot with acme bound to T0ACME; acme's security channel and admin are in acme's workspace."""
    fake_slack.add_channel(CHANNEL, team=ACME_TEAM)
    for admin in (ADMIN, ADMIN2, SEC_LEAD, DEV):
        fake_slack.add_user(admin, fake_slack.users.get(admin, admin), team=ACME_TEAM)
    running = await start_installing_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS="0")
    yield running
    await running.close()


async def install_acme(bot: RunningBot) -> None:
    assert (await Browser(bot).install(await issue_link(bot, "acme"), ACME_TEAM)).status == 200
    await bot.settle()


async def submit_from_acme(bot: RunningBot, **fields: Any) -> None:
    """acme's admin, in acme's own workspace (where the directory's acme roles count), files a request."""
    async with SlackDriver(f"{bot.server.url}/slack/events", SIGNING_SECRET, bot.slack, team_id=ACME_TEAM) as acme:
        await acme.command(ADMIN, "request")
        await bot.settle()
        assert (await acme.submit(ADMIN, bot.slack.views(ADMIN)[-1], **{**GOOD, **fields})).status == 200
        await bot.settle()


async def raise_alerts(bot: RunningBot, *ids: str) -> None:
    for n, alert_id in enumerate(ids):
        assert (await post(bot, alert(alert_id, signal=f"signal-{alert_id}", actor=f"actor{n}")))[0] == 202
    await bot.settle()


def alert_posts(bot: RunningBot) -> list[str]:
    return [m.text for m in bot.slack.messages(CHANNEL)]


def broken_notes(bot: RunningBot) -> list[str]:
    return [m.text for m in bot.slack.dms(OPERATOR) if "refused Trustbot's token" in m.text]


async def held(bot: RunningBot) -> tuple[int, dict[str, int]]:
    """(held writes `installs list` shows for acme, `/readyz` held detail)."""
    async with bot.rt.db.sessions() as session:
        [row] = [r for r in await list_installations(session) if r["team"] == ACME_TEAM]
    async with aiohttp.ClientSession() as http, http.get(f"{bot.server.url}/readyz") as resp:
        assert resp.status == 200  # held writes are not unreadiness
        body = await resp.json()
    return int(row["held"]), body.get("held_writes", {})


async def test_an_alert_for_a_bound_org_lands_in_its_security_channel_with_its_token(ibot: RunningBot) -> None:
    await install_acme(ibot)
    await raise_alerts(ibot, "a-1")
    [posted] = ibot.slack.messages(CHANNEL)
    assert "signal-a-1" in posted.rendered(ibot.slack.users)
    async with ibot.rt.db.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == CHANNEL))).all()
    assert (row.workspace, row.status) == (ACME_KEY, "sent")  # acme's token: home's cannot see that channel


async def test_the_requesters_dms_go_through_acme_while_the_reps_card_stays_home(ibot: RunningBot) -> None:
    await install_acme(ibot)
    await submit_from_acme(ibot)
    parent, actions = request_messages(ibot)
    assert ibot.slack.team_of_channel(REPS_CHANNEL) == "T0TEAM" and "#1" in parent.text
    await ibot.driver.click(REP, actions, "Approve")
    await ibot.settle()
    acme_dms = [m.text for m in ibot.slack.dms(ADMIN, team=ACME_TEAM)]
    assert any("#1" in t and "submitted" in t for t in acme_dms), acme_dms
    assert any("approved" in t.lower() for t in acme_dms), acme_dms
    assert ibot.slack.dms(ADMIN, team="T0TEAM") == []  # nothing for acme's admin through home's token


async def test_uninstalling_holds_acmes_writes_and_a_reinstall_delivers_them_once_in_order(
    ibot: RunningBot,
) -> None:
    await install_acme(ibot)
    driver = SlackDriver(f"{ibot.server.url}/slack/events", SIGNING_SECRET, ibot.slack, team_id=ACME_TEAM)
    try:
        assert (await driver.event({"type": "app_uninstalled"})).status == 200
        ibot.slack.workspaces.revoke(ACME_TEAM)
        await ibot.settle()
        await raise_alerts(ibot, "a-1", "a-2", "a-3")
        assert alert_posts(ibot) == []
        assert await held(ibot) == (3, {ACME_KEY: 3})
        async with ibot.rt.db.sessions() as session:
            rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == CHANNEL))).all()
        assert {(r.attempts, r.last_error) for r in rows} == {(0, None)}  # waiting, not retried hot
        [row] = await workspaces(ibot)
        assert row.status == "uninstalled"

        await install_acme(ibot)  # a new link, a new token
        posts = [m.rendered(ibot.slack.users) for m in ibot.slack.messages(CHANNEL)]
        assert [next(s for s in ("signal-a-1", "signal-a-2", "signal-a-3") if s in p) for p in posts] == [
            "signal-a-1",
            "signal-a-2",
            "signal-a-3",
        ]
        assert await held(ibot) == (0, {})
        await ibot.settle()
        assert len(ibot.slack.messages(CHANNEL)) == 3  # once
    finally:
        await driver.close()


async def test_a_token_revoked_mid_delivery_marks_acme_broken_holds_its_writes_and_tells_operators_once(
    ibot: RunningBot,
) -> None:
    await install_acme(ibot)
    ibot.slack.workspaces.revoke(ACME_TEAM)  # no event: the next send finds out
    await raise_alerts(ibot, "a-1")
    await raise_alerts(ibot, "a-2")
    [row] = await workspaces(ibot)
    assert (row.status, row.ended_reason) == ("broken", "invalid_auth")
    assert alert_posts(ibot) == [] and await held(ibot) == (2, {ACME_KEY: 2})
    assert len(broken_notes(ibot)) == 1
    async with ibot.rt.db.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == CHANNEL))).all()
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}  # held, not given up or counted

    await install_acme(ibot)
    assert len(alert_posts(ibot)) == 2 and len(broken_notes(ibot)) == 1


async def test_a_post_whose_answer_was_lost_is_found_with_acmes_token_and_not_posted_twice(
    ibot: RunningBot,
) -> None:
    await install_acme(ibot)
    ibot.slack.drop_after("chat.postMessage", channel=CHANNEL)  # carried out, the answer lost
    await raise_alerts(ibot, "a-1")
    await ibot.settle()
    assert len(ibot.slack.messages(CHANNEL)) == 1
    looked = ibot.slack.calls_to("conversations.history")
    assert looked and all(c.ok for c in looked)  # home's token could not have read acme's channel


async def test_a_reinstall_without_an_uninstall_event_sends_with_the_new_token(ibot: RunningBot) -> None:
    await install_acme(ibot)
    await raise_alerts(ibot, "a-1")  # acme's client is built and kept
    ibot.slack.workspaces.revoke(ACME_TEAM)  # Slack replaces the token when the app is installed again
    await install_acme(ibot)
    await raise_alerts(ibot, "a-2")
    [row] = await workspaces(ibot)
    assert row.status == "active" and len(alert_posts(ibot)) == 2 and broken_notes(ibot) == []


async def test_reverification_reminders_reach_acmes_admins_in_acmes_workspace(ibot: RunningBot) -> None:
    await install_acme(ibot)
    await make_grant(ibot.rt.db, ibot.clock, due=timedelta(days=14))
    assert (await run_job(ibot.rt.db, ibot.clock, ibot.rt.settings, "reverification")).outcome == "2 reminders"
    await ibot.settle()
    for admin in (ADMIN, ADMIN2):
        assert [m for m in ibot.slack.dms(admin, team=ACME_TEAM) if "Re-verify" in m.rendered(ibot.slack.users)]
        assert ibot.slack.dms(admin, team="T0TEAM") == []


async def test_an_alert_acmes_channel_refuses_is_shown_at_home_and_its_lead_told_in_acme(ibot: RunningBot) -> None:
    await install_acme(ibot)
    ibot.slack.refuse_channel(CHANNEL, "is_archived")
    await raise_alerts(ibot, "a-1")
    [shown] = ibot.slack.messages("C0SEC")  # the default channel, home's
    assert "signal-a-1" in shown.rendered(ibot.slack.users)
    assert [m for m in ibot.slack.dms(SEC_LEAD, team=ACME_TEAM) if "is_archived" in m.rendered(ibot.slack.users)]


async def test_approval_looks_acmes_members_up_in_acmes_workspace(ibot: RunningBot) -> None:
    await install_acme(ibot)
    await submit_from_acme(ibot, members=[DEV])
    _, actions = request_messages(ibot)
    await ibot.driver.click(REP, actions, "Approve")
    await ibot.settle()
    async with ibot.rt.db.sessions() as session:
        [grant] = (await session.scalars(select(Grant))).all()
    assert DEV in grant.members  # home's token does not know acme's people: DEV would be left out
    assert [m for m in ibot.slack.dms(DEV, team=ACME_TEAM) if "#1" in m.text]


async def test_the_start_up_channel_check_asks_acmes_workspace_about_acmes_channel(ibot: RunningBot) -> None:
    await install_acme(ibot)
    routed = await unpostable_channels(ibot.rt.db, ibot.rt.people_client)
    assert CHANNEL not in routed  # home's token would answer channel_not_found: the channel is acme's
    async with SlackDriver(f"{ibot.server.url}/slack/events", SIGNING_SECRET, ibot.slack, team_id=ACME_TEAM) as acme:
        assert (await acme.event({"type": "app_uninstalled"})).status == 200
    await ibot.settle()
    assert (await unpostable_channels(ibot.rt.db, ibot.rt.people_client))[CHANNEL] == HELD
