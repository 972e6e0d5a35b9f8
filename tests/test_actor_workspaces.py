"""Who may act, by workspace: a payload is acted on only for our app, through a known installation,
by a person of the home workspace or of a workspace an org binds, and directory roles count only for the
workspace they belong to. Through real HTTP with signed payloads carrying team fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlmodel import col

from tests.support.alert_helpers import CHANNEL, NOT_LEAD, raise_alert
from tests.support.bots import SIGNING_SECRET, RunningBot, start_bot
from tests.support.installs import ACME_TEAM, BOUND_YAML, GLOBEX_TEAM, Browser, issue_link, start_installing_bot
from tests.support.slack_flows import GOOD, request_messages
from trustbot.clock import FixedClock
from trustbot.messages.installs import NOT_CONNECTED
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.fake_workspaces import FakeWorkspace
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, GLOBEX_ADMIN, REP, SEC_LEAD
from trustbot.standin.slack_requests import APP_ID, SlackDriver
from trustbot.storage.tables import AccessRequest, Alert

HOME_TEAM, UNBOUND_TEAM = "T0TEAM", "T0UNBOUND"
# acme binds its workspace and globex its own; the directory also lists acme's rep's user id among acme's
# admins (in acme's workspace that id is somebody else: an acme admin, not the rep).
TWO_BOUND_YAML = BOUND_YAML.replace("admins: [U0ADM1, U0ADM2]", "admins: [U0ADM1, U0ADM2, U0REP1]").replace(
    "    verified_until: 2027-03-31\n", f"    verified_until: 2027-03-31\n    slack_team: {GLOBEX_TEAM}\n"
)


@pytest.fixture
async def wbot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A Trustbot installed in acme's and globex's workspaces (each bound) and in one no org binds; acme's
    people and security channel are of acme's workspace (Trustbot reaches them with acme's token)."""
    fake_slack.workspaces.add(FakeWorkspace(team_id=UNBOUND_TEAM, name="Umbrella"))
    fake_slack.add_channel(CHANNEL, team=ACME_TEAM)
    for person in (ADMIN, ADMIN2, SEC_LEAD, DEV):
        fake_slack.add_user(person, fake_slack.users.get(person, person), team=ACME_TEAM)
    running = await start_installing_bot(database_url, fake_slack, clock, TWO_BOUND_YAML)
    browser = Browser(running)
    for org, team in (("acme", ACME_TEAM), ("globex", GLOBEX_TEAM), ("acme", UNBOUND_TEAM)):
        assert (await browser.install(await issue_link(running, org), team)).status == 200
    await running.settle()
    yield running
    await running.close()


def driver(bot: RunningBot, team: str, *, user_team: str | None = None, app_id: str = APP_ID) -> SlackDriver:
    """Payloads through `team`'s installation, by people of `user_team` (by default the same workspace)."""
    return SlackDriver(bot.driver.url, SIGNING_SECRET, bot.slack, team_id=team, user_team_id=user_team, app_id=app_id)


async def submit_request(bot: RunningBot, via: SlackDriver, user: str) -> None:
    """`user` runs `/trust request` through `via` and submits acme's good request."""
    await via.command(user, "request")
    await bot.settle()
    assert (await via.submit(user, bot.slack.views(user)[-1], **GOOD)).status == 200
    await bot.settle()


async def requests(bot: RunningBot) -> list[AccessRequest]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(AccessRequest).order_by(col(AccessRequest.id)))).all())


async def alert_status(bot: RunningBot) -> str:
    async with bot.rt.db.sessions() as session:
        return (await session.scalars(select(Alert))).one().status


def texts(bot: RunningBot, user: str) -> list[str]:
    return [str(e.get("text")) for e in bot.slack.ephemerals(user)]


async def test_a_person_of_globexs_workspace_with_acmes_rep_id_cannot_decide_acmes_request(wbot: RunningBot) -> None:
    async with driver(wbot, ACME_TEAM) as acme:
        await submit_request(wbot, acme, ADMIN)
    [request] = await requests(wbot)
    assert (request.requester, request.requester_team) == (ADMIN, ACME_TEAM)
    _, actions = request_messages(wbot)
    views_before = len(wbot.slack.views(REP))
    # Slack Connect: the reps channel is the home workspace's, the clicker is globex's person U0REP1.
    async with driver(wbot, HOME_TEAM, user_team=GLOBEX_TEAM) as outsider:
        assert (await outsider.click(REP, actions, "Approve")).status == 200
        assert (await outsider.click(REP, actions, "Request info")).status == 200
    await wbot.settle()
    assert [r.status for r in await requests(wbot)] == ["pending"]
    assert len(wbot.slack.views(REP)) == views_before  # no question modal for them
    assert len(texts(wbot, REP)) == 2 and all("not in the Trustbot directory" in t for t in texts(wbot, REP))
    # The home workspace's U0REP1 is acme's rep and decides.
    assert (await wbot.driver.click(REP, actions, "Approve")).status == 200
    await wbot.settle()
    assert [r.status for r in await requests(wbot)] == ["approved"]


async def test_only_acmes_own_security_lead_acts_on_acmes_alert(wbot: RunningBot) -> None:
    message = await raise_alert(wbot)
    # globex's person with the id acme's lead has in acme's workspace, clicking in acme's shared channel;
    # then the home workspace's person with that id: neither is acme's security lead.
    for via in (driver(wbot, ACME_TEAM, user_team=GLOBEX_TEAM), driver(wbot, HOME_TEAM)):
        async with via:
            assert (await via.click(SEC_LEAD, message, "Acknowledge")).status == 200
        await wbot.settle()
        assert await alert_status(wbot) == "open"
    assert all(t in (NOT_LEAD, NOT_CONNECTED) or "not in the Trustbot directory" in t for t in texts(wbot, SEC_LEAD))
    async with driver(wbot, ACME_TEAM) as acme:
        assert (await acme.click(SEC_LEAD, message, "Acknowledge")).status == 200
    await wbot.settle()
    assert await alert_status(wbot) == "acknowledged"


async def test_a_person_of_acmes_workspace_with_globexs_admin_id_cannot_act_for_globex(wbot: RunningBot) -> None:
    async with driver(wbot, ACME_TEAM) as acme:
        await acme.command(GLOBEX_ADMIN, "grants globex")
        await acme.command(GLOBEX_ADMIN, "request")
    await wbot.settle()
    refusals = texts(wbot, GLOBEX_ADMIN)
    assert len(refusals) == 2 and all("not in the Trustbot directory" in t for t in refusals), refusals
    assert wbot.slack.views(GLOBEX_ADMIN) == [] and await requests(wbot) == []
    async with driver(wbot, GLOBEX_TEAM) as globex:  # globex's own admin, from globex's workspace
        await globex.command(GLOBEX_ADMIN, "grants globex")
        await globex.command(GLOBEX_ADMIN, "request")
    await wbot.settle()
    assert len(texts(wbot, GLOBEX_ADMIN)) == 3 and "Globex" in texts(wbot, GLOBEX_ADMIN)[-1]
    assert len(wbot.slack.views(GLOBEX_ADMIN)) == 1


async def test_a_person_of_an_unbound_or_uninstalled_workspace_is_refused_and_nothing_changes(
    wbot: RunningBot,
) -> None:
    async with driver(wbot, ACME_TEAM) as acme:
        await submit_request(wbot, acme, ADMIN)
    _, actions = request_messages(wbot)
    form = wbot.slack.views(ADMIN)[-1]
    async with driver(wbot, UNBOUND_TEAM) as unbound:
        answer = await unbound.command(ADMIN, "request")
        assert (await unbound.click(REP, actions, "Approve")).status == 200
        submitted = await unbound.submit(ADMIN, form, **GOOD)
    await wbot.settle()
    assert answer.json == {"response_type": "ephemeral", "text": NOT_CONNECTED}
    assert submitted.json["response_action"] == "update" and NOT_CONNECTED in str(submitted.json["view"])
    assert texts(wbot, REP) == [NOT_CONNECTED]
    assert [r.status for r in await requests(wbot)] == ["pending"] and len(wbot.slack.views(ADMIN)) == 1
    # acme uninstalls: its people's payloads through that installation are refused too.
    event = {"type": "app_uninstalled", "event_ts": "1.0"}
    async with driver(wbot, ACME_TEAM) as acme:
        assert (await acme.event(event)).status == 200
        await wbot.settle()
        gone = await acme.command(ADMIN, "status")
    assert gone.json["text"] == NOT_CONNECTED


async def test_the_same_user_id_in_home_and_in_acmes_workspace_is_two_people(wbot: RunningBot) -> None:
    # U0REP1 of acme's workspace is an acme admin; U0REP1 of the home workspace is acme's rep.
    async with driver(wbot, ACME_TEAM) as acme:
        await submit_request(wbot, acme, REP)
        _, actions = request_messages(wbot)
        assert (await acme.click(REP, actions, "Approve")).status == 200  # acme's U0REP1 is no rep
    await wbot.settle()
    assert [(r.requester, r.requester_team, r.status) for r in await requests(wbot)] == [(REP, ACME_TEAM, "pending")]
    assert (await wbot.driver.click(REP, actions, "Approve")).status == 200  # not their own request
    await wbot.settle()
    assert [r.status for r in await requests(wbot)] == ["approved"]


async def test_a_payload_for_another_app_is_refused(
    database_url: str, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    bot = await start_bot(database_url, fake_slack, clock)
    try:
        assert bot.rt.installation is not None
        bot.rt.installation = replace(bot.rt.installation, app_id=APP_ID)  # as auth.test says for a bot token
        async with driver(bot, HOME_TEAM, app_id="A0OTHER") as other:
            foreign = await other.command(ADMIN, "request")
        ours = await bot.driver.command(ADMIN, "help")
        await bot.settle()
        assert foreign.json["text"] == NOT_CONNECTED and bot.slack.views(ADMIN) == []
        assert ours.status == 200 and ours.json["text"] != NOT_CONNECTED
    finally:
        await bot.close()
