"""A customer that has not installed Trustbot works with it in a Slack Connect channel of the home workspace:
the channel's Request access message, posted once, opens the request modal for the org's own external people
and for nobody of another workspace. Through real HTTP with signed payloads carrying team fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from tests.support.bots import SIGNING_SECRET, RunningBot, start_bot
from tests.support.factories import seed_directory
from tests.support.installs import ACME_TEAM, GLOBEX_TEAM, Browser, issue_link, start_installing_bot
from tests.support.slack_flows import GOOD, REPS_CHANNEL, request_messages
from trustbot.clock import FixedClock
from trustbot.messages.connect import REQUEST_ACCESS
from trustbot.messages.installs import NOT_CONNECTED
from trustbot.standin.fake_pins import pinned
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, DEV, DIRECTORY_YAML, GLOBEX_ADMIN
from trustbot.standin.slack_requests import SlackDriver
from trustbot.standin.transcript import Message
from trustbot.storage.tables import AccessRequest

HOME_TEAM = "T0TEAM"
CONNECT_CHANNEL = "C0ACMECONNECT"
# acme works from its own workspace through a channel shared with the home workspace; globex is bound to its
# own workspace too, so globex's people pass the workspace check and are refused as not acme's.
CONNECT_YAML = DIRECTORY_YAML.replace(
    "    verified_until: 2027-06-30\n",
    f"    verified_until: 2027-06-30\n    slack_team: {ACME_TEAM}\n    connect_channel: {CONNECT_CHANNEL}\n",
    1,
).replace("    verified_until: 2027-03-31\n", f"    verified_until: 2027-03-31\n    slack_team: {GLOBEX_TEAM}\n", 1)


@pytest.fixture(params=["single-workspace", "installs"])
async def cbot(
    request: pytest.FixtureRequest, database_url: str, fake_slack: FakeSlack, clock: FixedClock
) -> AsyncIterator[RunningBot]:
    """A Trustbot whose directory gives acme a Slack Connect channel: single-workspace, or with installs
    configured and globex (not acme) installed."""
    if request.param == "installs":
        running = await start_installing_bot(database_url, fake_slack, clock, CONNECT_YAML)
        assert (await Browser(running).install(await issue_link(running, "globex"), GLOBEX_TEAM)).status == 200
    else:
        running = await start_bot(database_url, fake_slack, clock)
        await seed_directory(running.rt.db, clock, CONNECT_YAML, config=running.rt.settings)
    await running.settle()
    yield running
    await running.close()


def external(bot: RunningBot, team: str) -> SlackDriver:
    """Payloads through the home workspace's installation by external people of `team` (Slack Connect)."""
    return SlackDriver(bot.driver.url, SIGNING_SECRET, bot.slack, team_id=HOME_TEAM, user_team_id=team)


def button_message(bot: RunningBot) -> Message:
    [message] = bot.slack.messages(CONNECT_CHANNEL)
    return message


def buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks or [] if b.get("type") == "actions" for e in b.get("elements", [])]


async def requests(bot: RunningBot) -> list[AccessRequest]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(AccessRequest).order_by(col(AccessRequest.id)))).all())


def texts(bot: RunningBot, user: str) -> list[str]:
    return [str(e.get("text")) for e in bot.slack.ephemerals(user)]


async def test_the_request_access_message_is_posted_once_however_often_the_directory_is_applied(
    cbot: RunningBot,
) -> None:
    for _ in range(2):
        report = await seed_directory(cbot.rt.db, cbot.clock, CONNECT_YAML, config=cbot.rt.settings)
        assert report.connect_posted == []
    await cbot.settle()
    message = button_message(cbot)
    assert [b["text"]["text"] for b in buttons(message)] == [REQUEST_ACCESS]
    assert "Acme Security" in message.text


async def test_an_external_acme_admin_requests_through_the_button_and_the_reps_see_it_from_acme(
    cbot: RunningBot,
) -> None:
    async with external(cbot, ACME_TEAM) as acme:
        assert (await acme.click(ADMIN, button_message(cbot), REQUEST_ACCESS)).status == 200
        await cbot.settle()
        [form] = cbot.slack.views(ADMIN)
        assert (await acme.submit(ADMIN, form, **GOOD)).json is None
    await cbot.settle()
    [request] = await requests(cbot)
    assert (request.requester, request.requester_team, request.status) == (ADMIN, ACME_TEAM, "pending")
    parent, actions = request_messages(cbot)
    assert "Acme Security" in parent.text and actions.channel == cbot.slack._resolve(REPS_CHANNEL)


async def test_a_globex_person_in_acmes_channel_can_neither_open_nor_submit_acmes_request(cbot: RunningBot) -> None:
    async with external(cbot, ACME_TEAM) as acme:
        await acme.click(ADMIN, button_message(cbot), REQUEST_ACCESS)
    await cbot.settle()
    [acme_form] = cbot.slack.views(ADMIN)
    async with external(cbot, GLOBEX_TEAM) as globex:
        assert (await globex.click(GLOBEX_ADMIN, button_message(cbot), REQUEST_ACCESS)).status == 200
        await cbot.settle()
        submitted = await globex.submit(GLOBEX_ADMIN, acme_form, **GOOD)
    await cbot.settle()
    assert cbot.slack.views(GLOBEX_ADMIN) == []
    [refusal] = texts(cbot, GLOBEX_ADMIN)
    assert "Only an org's enterprise admins can request trusted access" in refusal and "Acme" not in refusal
    assert submitted.json["response_action"] == "errors"
    assert "enterprise admins" in str(submitted.json["errors"])
    assert await requests(cbot) == [] and cbot.slack.messages(REPS_CHANNEL) == []


async def test_a_person_of_a_workspace_no_org_binds_clicking_in_the_channel_is_told_it_is_not_connected(
    cbot: RunningBot,
) -> None:
    async with external(cbot, "T0UMBRELLA") as stranger:
        assert (await stranger.click(ADMIN, button_message(cbot), REQUEST_ACCESS)).status == 200
    await cbot.settle()
    assert texts(cbot, ADMIN) == [NOT_CONNECTED] and cbot.slack.views(ADMIN) == []


async def test_an_external_member_whose_email_slack_hides_is_refused_by_name(cbot: RunningBot) -> None:
    cbot.slack.set_profile(DEV, email="")  # an external person: Slack shows no email
    async with external(cbot, ACME_TEAM) as acme:
        await acme.click(ADMIN, button_message(cbot), REQUEST_ACCESS)
        await cbot.settle()
        submitted = await acme.submit(ADMIN, cbot.slack.views(ADMIN)[-1], **GOOD)
    await cbot.settle()
    assert submitted.json["response_action"] == "errors"
    assert "Dana Dev has no email that Slack shows" in str(submitted.json["errors"])
    assert await requests(cbot) == [] and cbot.slack.messages(REPS_CHANNEL) == []


async def test_a_restart_applying_the_same_directory_does_not_post_or_pin_it_again(
    database_url: str, fake_slack: FakeSlack, clock: FixedClock, tmp_path: Path
) -> None:
    directory = tmp_path / "directory.yml"
    directory.write_text(CONNECT_YAML)
    for _ in range(2):  # `serve` applies TRUSTBOT_DIRECTORY at every start
        running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_DIRECTORY=str(directory))
        try:
            await running.settle()
            assert len(fake_slack.messages(CONNECT_CHANNEL)) == 1
        finally:
            await running.close()
    assert pinned(fake_slack, CONNECT_CHANNEL) == fake_slack.messages(CONNECT_CHANNEL)
    assert sum(1 for c in fake_slack.calls("pins.add") if c.ok or c.carried_out) == 1
