"""The whole story across two workspaces, through real HTTP: acme installs Trustbot with Slack's OAuth flow and
works from its own workspace (request, DMs, App Home, its security channel and lead) while the rep decides from
the provider's; globex's people are refused on acme's request and alert; an uninstall holds acme's writes until
it installs again. Each Slack call is answered only for the token of the workspace it belongs to, as in Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.alert_helpers import CHANNEL
from tests.support.bots import SIGNING_SECRET, RunningBot
from tests.support.ingest import alert, post
from tests.support.installs import ACME_TEAM, BOUND_YAML, GLOBEX_TEAM, Browser, issue_link, start_installing_bot
from tests.support.slack_flows import GOOD, REPS_CHANNEL, request_messages
from trustbot.clock import FixedClock
from trustbot.services.installs.workspaces import list_installations
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, DEV, GLOBEX_ADMIN, REP, SEC_LEAD
from trustbot.standin.slack_requests import SlackDriver
from trustbot.storage.tables import AccessRequest, Alert, Grant, GrantMember, OutboxMessage

HOME_TEAM = "T0TEAM"
# acme binds its workspace, globex its own.
BOTH_BOUND_YAML = BOUND_YAML.replace(
    "    verified_until: 2027-03-31\n", f"    verified_until: 2027-03-31\n    slack_team: {GLOBEX_TEAM}\n"
)


@pytest.fixture
async def two(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """Trustbot installed through OAuth into acme's and globex's workspaces; acme's people and security channel
    are of acme's workspace, globex's admin of globex's."""
    fake_slack.add_channel(CHANNEL, team=ACME_TEAM)
    for person in (ADMIN, SEC_LEAD, DEV):
        fake_slack.add_user(person, fake_slack.users[person], team=ACME_TEAM)
    fake_slack.add_user(GLOBEX_ADMIN, fake_slack.users[GLOBEX_ADMIN], team=GLOBEX_TEAM)
    running = await start_installing_bot(
        database_url, fake_slack, clock, BOTH_BOUND_YAML, TRUSTBOT_ALERT_UPDATE_SECONDS="0"
    )
    for org, team in (("acme", ACME_TEAM), ("globex", GLOBEX_TEAM)):
        assert (await Browser(running).install(await issue_link(running, org), team)).status == 200
    await running.settle()
    yield running
    await running.close()


def via(bot: RunningBot, team: str, *, user_team: str | None = None) -> SlackDriver:
    """Payloads through `team`'s installation, by people of `user_team` (by default that workspace's)."""
    return SlackDriver(
        f"{bot.server.url}/slack/events", SIGNING_SECRET, bot.slack, team_id=team, user_team_id=user_team
    )


async def rows(bot: RunningBot, table: Any) -> list[Any]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(table))).all())


async def acme_requests_from_its_workspace(bot: RunningBot) -> None:
    """acme's admin runs `/trust request` in acme's workspace and submits the modal it opens there."""
    async with via(bot, ACME_TEAM) as acme:
        assert (await acme.command(ADMIN, "request")).status == 200
        await bot.settle()
        [modal] = bot.slack.views(ADMIN)
        assert modal["team_id"] == ACME_TEAM  # opened with acme's token: the trigger was acme's installation's
        assert (await acme.submit(ADMIN, modal, **GOOD)).status == 200
    await bot.settle()


def refusals(bot: RunningBot, user: str) -> list[str]:
    return [str(e.get("text")) for e in bot.slack.ephemerals(user)]


async def test_acme_is_served_in_its_own_workspace_and_globex_is_refused_on_acmes_request_and_alert(
    two: RunningBot,
) -> None:
    slack = two.slack
    installed = {r["team"]: (r["org"], r["status"]) for r in await list_installations_of(two)}
    assert installed == {ACME_TEAM: ("acme", "active"), GLOBEX_TEAM: ("globex", "active")}

    await acme_requests_from_its_workspace(two)
    [request] = await rows(two, AccessRequest)
    assert (request.requester, request.requester_team, request.status) == (ADMIN, ACME_TEAM, "pending")
    parent, actions = request_messages(two)
    assert slack.team_of_channel(REPS_CHANNEL) == HOME_TEAM and "#1" in parent.text

    # globex's people cannot decide acme's request: globex's admin, nor a globex person with the rep's user id.
    async with via(two, GLOBEX_TEAM) as globex:
        for person in (GLOBEX_ADMIN, REP):
            assert (await globex.click(person, actions, "Approve")).status == 200
    await two.settle()
    assert [r.status for r in await rows(two, AccessRequest)] == ["pending"]
    assert await rows(two, Grant) == []

    assert (await two.driver.click(REP, actions, "Approve")).status == 200  # the rep, in the provider's workspace
    await two.settle()
    [grant] = await rows(two, Grant)
    assert (grant.status, grant.members) == ("active", [DEV])
    acme_dms = [m.text for m in slack.dms(ADMIN, team=ACME_TEAM)]
    assert any("approved" in t.lower() for t in acme_dms), acme_dms
    assert slack.dms(ADMIN, team=HOME_TEAM) == []  # nothing for acme's admin through the provider's token

    assert (await post(two, alert("a-1", signal="signal-a-1")))[0] == 202
    await two.settle()
    [posted] = slack.messages(CHANNEL, team=ACME_TEAM)
    assert "signal-a-1" in posted.rendered(slack.users)
    [alert_row] = await rows(two, Alert)
    # globex's person with acme's lead's user id, clicking in acme's channel (shared with globex), is refused
    async with via(two, ACME_TEAM, user_team=GLOBEX_TEAM) as outsider:
        assert (await outsider.click(SEC_LEAD, posted, "Acknowledge")).status == 200
    await two.settle()
    assert [a.status for a in await rows(two, Alert)] == ["open"]
    async with via(two, ACME_TEAM) as acme:
        assert (await acme.click(SEC_LEAD, slack.messages(CHANNEL, team=ACME_TEAM)[0], "Acknowledge")).status == 200
    await two.settle()
    assert [(a.id, a.status) for a in await rows(two, Alert)] == [(alert_row.id, "acknowledged")]


async def test_acmes_uninstall_holds_its_writes_and_the_reinstall_releases_them_once(two: RunningBot) -> None:
    async with via(two, ACME_TEAM) as acme:
        assert (await acme.event({"type": "app_uninstalled"})).status == 200
    two.slack.workspaces.revoke(ACME_TEAM)
    await two.settle()
    assert (await post(two, alert("a-1", signal="signal-a-1")))[0] == 202
    await two.settle()
    assert two.slack.messages(CHANNEL, team=ACME_TEAM) == []
    [held] = [r for r in await list_installations_of(two) if r["team"] == ACME_TEAM]
    assert (held["status"], held["held"]) == ("uninstalled", 1)
    async with via(two, ACME_TEAM) as acme:  # nobody in an uninstalled workspace can act
        assert (await acme.command(ADMIN, "status")).status == 0  # Slack no longer delivers its commands

    assert (await Browser(two).install(await issue_link(two, "acme"), ACME_TEAM)).status == 200
    await two.settle()
    [posted] = two.slack.messages(CHANNEL, team=ACME_TEAM)
    assert "signal-a-1" in posted.rendered(two.slack.users)
    outbox = [r for r in await rows(two, OutboxMessage) if r.channel == CHANNEL]
    assert [(r.workspace, r.status) for r in outbox] == [(f":{ACME_TEAM}", "sent")]


async def test_acmes_admin_sees_app_home_in_acmes_workspace(two: RunningBot) -> None:
    async with via(two, ACME_TEAM) as acme:
        assert (await acme.event({"type": "app_home_opened", "user": ADMIN, "tab": "home"})).status == 200
    await two.settle()
    home = two.slack.home(ADMIN)
    assert home is not None and home["team_id"] == ACME_TEAM  # published with acme's token


async def test_a_user_change_counts_only_for_the_workspace_it_comes_from(two: RunningBot) -> None:
    await acme_requests_from_its_workspace(two)
    _parent, actions = request_messages(two)
    await two.driver.click(REP, actions, "Approve")
    await two.settle()
    left = {"id": DEV, "name": "dana", "deleted": False, "is_bot": False, "profile": {"email": "dana@elsewhere.org"}}

    # The provider's own person with dana's user id changed: acme's dana is someone else and stays covered.
    assert (await two.driver.event({"type": "user_change", "user": {**left, "team_id": HOME_TEAM}})).status == 200
    await two.settle()
    [grant] = await rows(two, Grant)
    assert grant.members == [DEV]

    async with via(two, ACME_TEAM) as acme:  # acme's dana left acme
        assert (await acme.event({"type": "user_change", "user": {**left, "team_id": ACME_TEAM}})).status == 200
    await two.settle()
    [grant] = await rows(two, Grant)
    assert grant.members == [] and await rows(two, GrantMember) == []


async def list_installations_of(bot: RunningBot) -> list[dict[str, Any]]:
    async with bot.rt.db.sessions() as session:
        return list(await list_installations(session))


async def test_revoke_and_suspension_tell_acmes_people_in_acmes_workspace_and_the_rep_at_home(two: RunningBot) -> None:
    slack = two.slack
    await acme_requests_from_its_workspace(two)
    _parent, actions = request_messages(two)
    await two.driver.click(REP, actions, "Approve")
    await two.settle()
    [grant] = await rows(two, Grant)

    assert (await post(two, alert("a-1", signal="signal-a-1", severity="critical")))[0] == 202
    await two.settle()
    async with via(two, ACME_TEAM) as acme:
        await acme.click(SEC_LEAD, slack.messages(CHANNEL, team=ACME_TEAM)[0], "Suspend access")
        await two.settle()
        await acme.submit(SEC_LEAD, slack.views(SEC_LEAD)[-1], reason="Confirmed exfiltration")
    await two.settle()
    assert any("suspended" in m.text for m in slack.dms(ADMIN, team=ACME_TEAM))
    assert any("suspended" in m.text for m in slack.dms(REP, team=HOME_TEAM))

    await two.driver.command(REP, f"revoke {grant.id} contract ended")
    await two.settle()
    for person in (ADMIN, DEV):  # acme's admin (the requester) and the member, in acme's workspace
        assert any("was revoked" in m.text for m in slack.dms(person, team=ACME_TEAM)), person
        assert slack.dms(person, team=HOME_TEAM) == [], person
