"""Customer workspaces install Trustbot through Slack's OAuth (Bolt's flow), bound to an org by its link and
its `slack_team`, with tokens sealed at rest; uninstalling ends the installation. Through real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.support.bots import RunningBot
from tests.support.installs import (
    ACME_TEAM,
    BOUND_YAML,
    GLOBEX_TEAM,
    GRID,
    PUBLIC_URL,
    Browser,
    issue_link,
    raw_rows,
    start_installing_bot,
    workspaces,
)
from trustbot.cli.main import main
from trustbot.clock import FixedClock
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.fake_workspaces import CLIENT_ID, CLIENT_SECRET
from trustbot.standin.sample import OPERATOR
from trustbot.standin.slack_requests import SlackDriver
from trustbot.storage.tables import AuditEvent
from trustbot.storage.tables.installs import SLACK_BOTS, SLACK_INSTALLATIONS

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
async def ibot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot that customer workspaces can install; acme binds T0ACME."""
    running = await start_installing_bot(database_url, fake_slack, clock)
    yield running
    await running.close()


async def audit_actions(bot: RunningBot) -> list[tuple[str, str, dict[str, Any]]]:
    async with bot.rt.db.sessions() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        return [
            (e.action, e.subject, json.loads(e.details) if isinstance(e.details, str) else e.details) for e in events
        ]


def operator_notes(bot: RunningBot, words: str) -> list[str]:
    return [m.text for m in bot.slack.dms(OPERATOR) if words in m.text]


async def test_an_install_through_an_orgs_link_lands_bound_with_its_tokens_sealed(ibot: RunningBot) -> None:
    browser = Browser(ibot)
    started, state = await browser.start(await issue_link(ibot, "acme"))
    assert started.status == 302 and state
    where = urlsplit(started.headers["Location"])
    asked = parse_qs(where.query)
    assert where.netloc == "slack.com" and asked["client_id"] == [CLIENT_ID]
    assert asked["redirect_uri"] == [f"{PUBLIC_URL}/slack/oauth_redirect"]
    assert "users:read.email" in asked["scope"][0].split(",")

    page = await browser.finish(state, ACME_TEAM)
    assert page.status == 200 and "Trustbot is installed" in page.text and "Acme Corp" in page.text
    [row] = await workspaces(ibot)
    assert (row.team_id, row.status, row.ended_at) == (ACME_TEAM, "active", None)
    assert row.org_id is not None and row.org_id == row.linked_org_id

    [token] = list(ibot.slack.workspaces.tokens)
    stored = await raw_rows(ibot, SLACK_INSTALLATIONS) + await raw_rows(ibot, SLACK_BOTS)
    assert len(stored) == 2 and all(r["bot_token"] and r["bot_token"] != token for r in stored)
    assert token not in repr(stored)  # not in clear text anywhere in the rows
    assert ibot.rt.installations is not None
    found = await ibot.rt.installations.async_find_bot(enterprise_id=None, team_id=ACME_TEAM)
    assert found is not None and found.bot_token == token and found.bot_user_id

    await ibot.settle()
    assert operator_notes(ibot, "the workspace of org `acme`")
    [(action, subject, details)] = [a for a in await audit_actions(ibot) if a[0] == "workspace.installed"]
    assert (subject, details["org"], details["via_link_of"]) == (f"workspace::{ACME_TEAM}", "acme", "acme")


async def test_a_forged_or_replayed_state_is_refused_and_nothing_is_stored(ibot: RunningBot) -> None:
    browser = Browser(ibot)
    forged = await browser.finish("forged-state-value", ACME_TEAM)
    assert forged.status == 400 and "nothing was installed" in forged.text
    assert await workspaces(ibot) == [] and await raw_rows(ibot, SLACK_INSTALLATIONS) == []

    _, state = await browser.start(await issue_link(ibot, "acme"))
    assert state is not None
    other_browser = await browser.finish(state, ACME_TEAM, cookie_state="someone-elses")
    assert other_browser.status == 400 and await raw_rows(ibot, SLACK_INSTALLATIONS) == []

    link = await issue_link(ibot, "acme")
    _, state = await browser.start(link)
    assert state is not None and (await browser.finish(state, ACME_TEAM)).status == 200
    replayed = await browser.finish(state, ACME_TEAM)
    assert replayed.status == 400 and "already used" in replayed.text
    again, _ = await browser.start(link)  # the link itself is single-use
    assert again.status == 400 and "already used" in again.text
    assert len(await raw_rows(ibot, SLACK_INSTALLATIONS)) == 1 and len(await workspaces(ibot)) == 1


async def test_an_expired_link_a_second_visit_after_use_or_no_link_is_refused(ibot: RunningBot) -> None:
    browser = Browser(ibot)
    link = await issue_link(ibot, "acme")
    ibot.clock.advance(timedelta(days=7, seconds=1))
    expired, state = await browser.start(link)
    assert (expired.status, state) == (400, None) and "expired" in expired.text
    bare, state = await browser.start(None)
    assert (bare.status, state) == (400, None) and "ask them for one" in bare.text
    unknown, _ = await browser.start("not-a-link")
    assert unknown.status == 400

    _, state = await browser.start(await issue_link(ibot, "acme"))
    assert state is not None
    ibot.clock.advance(timedelta(minutes=10, seconds=1))  # the admin took too long on Slack's screen
    late = await browser.finish(state, ACME_TEAM)
    assert late.status == 400 and await raw_rows(ibot, SLACK_INSTALLATIONS) == []


@pytest.mark.parametrize(
    ("org", "team"),
    [("acme", GLOBEX_TEAM), ("globex", GLOBEX_TEAM), ("globex", ACME_TEAM)],
    ids=["a workspace no org binds", "an org binding none", "another orgs workspace"],
)
async def test_an_install_from_a_team_the_org_does_not_bind_is_stored_unbound_and_operators_told(
    ibot: RunningBot, org: str, team: str
) -> None:
    page = await Browser(ibot).install(await issue_link(ibot, org), team)
    assert page.status == 200 and "not yet linked" in page.text and "nobody here can use Trustbot" in page.text
    [row] = await workspaces(ibot)
    assert (row.team_id, row.org_id, row.status) == (team, None, "active") and row.linked_org_id is not None
    assert len(await raw_rows(ibot, SLACK_BOTS)) == 1  # stored, so it can be bound later without a reinstall
    await ibot.settle()
    assert operator_notes(ibot, f"through org `{org}`'s install link, but `{org}` does not bind that workspace")
    [(_, _, details)] = [a for a in await audit_actions(ibot) if a[0] == "workspace.installed"]
    assert (details["org"], details["via_link_of"]) == (None, org)


async def test_an_org_wide_grid_install_with_token_rotation_is_bound_by_its_enterprise_id(
    database_url: str, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    yaml = BOUND_YAML.replace(f"slack_team: {ACME_TEAM}", f"slack_team: {GRID}")
    bot = await start_installing_bot(database_url, fake_slack, clock, yaml)
    try:
        page = await Browser(bot).install(await issue_link(bot, "acme"), GRID)
        assert page.status == 200 and "Trustbot is installed" in page.text
        [row] = await workspaces(bot)
        assert (row.key, row.enterprise_id, row.is_enterprise_install, row.org_id) == (f"{GRID}:", GRID, True, 1)
        assert bot.rt.installations is not None
        found = await bot.rt.installations.async_find_installation(
            enterprise_id=GRID, team_id="T0ANYTEAM", is_enterprise_install=True
        )
        assert found is not None and found.is_enterprise_install and found.team_id is None
        assert found.bot_refresh_token and found.bot_refresh_token.startswith("xoxe-1-")
        assert found.bot_token_expires_at is not None
        [stored] = await raw_rows(bot, SLACK_BOTS)
        assert stored["bot_refresh_token"] != found.bot_refresh_token  # sealed at rest too

        # Removed from the whole Grid org: Slack names one of its teams, and the org-wide install ends.
        body = json.dumps(
            {
                "team_id": "T0ANYTEAM",
                "enterprise_id": GRID,
                "api_app_id": bot.slack.app_id,
                "type": "event_callback",
                "event_id": "Ev0GRIDGONE",
                "event_time": 1,
                "event": {"type": "app_uninstalled"},
                "authorizations": [{"enterprise_id": GRID, "team_id": None, "is_enterprise_install": True}],
            }
        ).encode()
        async with SlackDriver(f"{bot.server.url}/slack/events", SIGNING_SECRET, bot.slack) as driver:
            assert (await driver.post_signed(body, "application/json")).status == 200
        await bot.settle()
        [row] = await workspaces(bot)
        assert row.status == "uninstalled" and await raw_rows(bot, SLACK_BOTS) == []
    finally:
        await bot.close()


async def _installed(bot: RunningBot, team: str = ACME_TEAM) -> SlackDriver:
    assert (await Browser(bot).install(await issue_link(bot, "acme"), team)).status == 200
    await bot.settle()
    return SlackDriver(f"{bot.server.url}/slack/events", SIGNING_SECRET, bot.slack, team_id=team)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "app_uninstalled"}, "uninstalled Trustbot"),
        ({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT1"]}}, "revoked Trustbot's tokens"),
    ],
    ids=["app_uninstalled", "tokens_revoked"],
)
async def test_uninstalling_ends_the_installation_deletes_its_tokens_audited_and_operators_told(
    ibot: RunningBot, event: dict[str, Any], reason: str
) -> None:
    driver = await _installed(ibot)
    try:
        assert (await driver.event(event)).status == 200
        await ibot.settle()
        [row] = await workspaces(ibot)
        assert (row.status, row.ended_at, row.ended_reason) == ("uninstalled", ibot.clock.now(), event["type"])
        assert await raw_rows(ibot, SLACK_INSTALLATIONS) == [] and await raw_rows(ibot, SLACK_BOTS) == []
        assert ibot.rt.installations is not None
        assert await ibot.rt.installations.async_find_bot(enterprise_id=None, team_id=ACME_TEAM) is None
        assert operator_notes(ibot, reason)
        ended = [a for a in await audit_actions(ibot) if a[0] == "workspace.uninstalled"]
        assert [(s, d["org"], d["reason"]) for _, s, d in ended] == [(f"workspace::{ACME_TEAM}", "acme", event["type"])]

        assert (await driver.event(event)).status == 200  # Slack sends it again: nothing more happens
        await ibot.settle()
        assert len(operator_notes(ibot, reason)) == 1
        assert len([a for a in await audit_actions(ibot) if a[0] == "workspace.uninstalled"]) == 1
    finally:
        await driver.close()


async def test_revoking_only_user_tokens_leaves_the_bot_installed(ibot: RunningBot) -> None:
    driver = await _installed(ibot)
    try:
        await driver.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALLER"], "bot": []}})
        await ibot.settle()
        [row] = await workspaces(ibot)
        assert row.status == "active" and len(await raw_rows(ibot, SLACK_BOTS)) == 1
    finally:
        await driver.close()


async def test_installs_list_shows_each_installation_its_org_or_unbound(
    ibot: RunningBot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await Browser(ibot).install(await issue_link(ibot, "acme"), ACME_TEAM)).status == 200
    assert (await Browser(ibot).install(await issue_link(ibot, "globex"), GLOBEX_TEAM)).status == 200
    monkeypatch.setenv("DATABASE_URL", ibot.rt.settings.database_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["installs", "list"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["TEAM", "ENTERPRISE", "NAME", "ORG", "STATUS", "INSTALLED_AT", "SCOPES", "HELD"]
    when = ibot.clock.now().isoformat(timespec="seconds")
    scopes = "commands,chat:write,im:write,users:read,users:read.email"
    assert [line.split() for line in lines] == [
        [ACME_TEAM, "-", "Acme", "Corp", "acme", "active", when, scopes, "0"],
        [GLOBEX_TEAM, "-", "Globex", "Inc", "unbound", "active", when, scopes, "0"],
    ]


async def test_single_workspace_mode_serves_no_install_pages(bot: RunningBot) -> None:
    page = await Browser(bot).get("/slack/install")
    assert page.status == 404 and bot.rt.installations is None


async def test_a_slack_refusal_of_the_code_shows_a_page_and_stores_nothing(ibot: RunningBot) -> None:
    browser = Browser(ibot)
    _, state = await browser.start(await issue_link(ibot, "acme"))
    assert state is not None
    page = await browser.get(
        f"/slack/oauth_redirect?code=not-a-code&state={state}", cookie=f"slack-app-oauth-state={state}"
    )
    assert page.status == 400 and "Slack did not confirm" in page.text
    cancelled = await browser.get("/slack/oauth_redirect?error=access_denied")
    assert cancelled.status == 200 and "cancelled" in cancelled.text
    assert await raw_rows(ibot, SLACK_INSTALLATIONS) == [] and await workspaces(ibot) == []


async def test_the_fake_slack_exchanges_codes_for_per_team_tokens(fake_slack: FakeSlack) -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from tests.support.installs import add_customer_workspaces

    add_customer_workspaces(fake_slack)
    client = AsyncWebClient(base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code="made-up")
    assert refused.value.response["error"] == "invalid_code"
    code = fake_slack.workspaces.approve(ACME_TEAM)
    with pytest.raises(SlackApiError) as wrong_secret:
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret="nope", code=code)
    assert wrong_secret.value.response["error"] == "invalid_client_id"
    answer = await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert answer["team"] == {"id": ACME_TEAM, "name": "Acme Corp"} and answer["is_enterprise_install"] is False
    with pytest.raises(SlackApiError):  # a code is good once
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    theirs = await client.auth_test(token=answer["access_token"])
    assert (theirs["team_id"], theirs["app_id"]) == (ACME_TEAM, fake_slack.app_id)
    home = await client.auth_test(token="xoxb-home")
    assert home["team_id"] == "T0TEAM"  # the home workspace's tokens answer as before


async def test_oauth_credentials_in_the_environment_leave_the_home_workspace_served(
    database_url: str, fake_slack: FakeSlack, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `serve` runs: SLACK_CLIENT_ID/SECRET in the environment must not give Bolt an OAuth flow of its own,
    whose per-team authorization would drop the home workspace's payloads."""
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    running = await start_installing_bot(database_url, fake_slack, clock)
    try:
        answer = await running.driver.command(OPERATOR, "help")
        assert answer.status == 200 and "/trust" in str(answer.json)
    finally:
        await running.close()
