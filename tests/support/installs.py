"""A Trustbot that customer workspaces can install, and a browser walking Slack's OAuth install through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import seed_directory
from trustbot.clock import FixedClock
from trustbot.services.context import system_context
from trustbot.services.installs.links import issue_install_link
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.fake_workspaces import CLIENT_ID, CLIENT_SECRET, FakeWorkspace
from trustbot.standin.sample import DIRECTORY_YAML
from trustbot.storage.tables import Workspace

SECRETS_KEY = Fernet.generate_key().decode()
PUBLIC_URL = "https://trustbot.example.com"
STATE_COOKIE = "slack-app-oauth-state"
ACME_TEAM, GLOBEX_TEAM, GRID = "T0ACME", "T0GLOBEX", "E0GRID"
# The sample directory with acme bound to its workspace.
BOUND_YAML = DIRECTORY_YAML.replace(
    "    verified_until: 2027-06-30\n", f"    verified_until: 2027-06-30\n    slack_team: {ACME_TEAM}\n", 1
)

INSTALL_SETTINGS = {
    "SLACK_CLIENT_ID": CLIENT_ID,
    "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    "TRUSTBOT_SECRETS_KEY": SECRETS_KEY,
    "TRUSTBOT_PUBLIC_URL": PUBLIC_URL,
}


def add_customer_workspaces(fake: FakeSlack) -> None:
    """acme's and globex's workspaces, and a Grid org that installs org-wide with token rotation on."""
    fake.workspaces.add(FakeWorkspace(team_id=ACME_TEAM, name="Acme Corp"))
    fake.workspaces.add(FakeWorkspace(team_id=GLOBEX_TEAM, name="Globex Inc"))
    fake.workspaces.add(
        FakeWorkspace(
            team_id=None,
            name="Initech Grid",
            enterprise_id=GRID,
            enterprise_name="Initech Grid",
            is_enterprise_install=True,
            rotating=True,
        )
    )


async def start_installing_bot(
    database_url: str, fake: FakeSlack, clock: FixedClock, yaml: str = BOUND_YAML, **overrides: Any
) -> RunningBot:
    """A Trustbot with installs configured and acme bound to T0ACME (`overrides`: more settings)."""
    add_customer_workspaces(fake)
    bot = await start_bot(database_url, fake, clock, **INSTALL_SETTINGS, **overrides)
    await seed_directory(bot.rt.db, clock, yaml, config=bot.rt.settings)
    return bot


async def issue_link(bot: RunningBot, org: str) -> str:
    """A new install link token for `org`, as `trustbot installs link` issues it."""
    async with bot.rt.db.transaction() as session:
        return await issue_install_link(
            session, system_context(bot.clock, bot.rt.settings, as_user="cli"), org_slug=org
        )


@dataclass
class Page:
    """What the browser was shown."""

    status: int
    text: str
    headers: dict[str, str]


class Browser:
    """An admin's browser: opens an install link, is sent to Slack, and comes back with Slack's code."""

    def __init__(self, bot: RunningBot) -> None:
        self.bot = bot

    async def get(self, path: str, *, cookie: str | None = None) -> Page:
        """GET a path of the bot without following redirects."""
        headers = {"Cookie": cookie} if cookie else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.bot.server.url + path, headers=headers, allow_redirects=False) as response,
        ):
            return Page(response.status, await response.text(), dict(response.headers))

    async def start(self, link: str | None) -> tuple[Page, str | None]:
        """Open `/slack/install?link=…`; the page and the OAuth state Slack was sent (None when refused)."""
        page = await self.get("/slack/install" + (f"?link={link}" if link is not None else ""))
        if page.status != 302:
            return page, None
        return page, parse_qs(urlsplit(page.headers["Location"]).query)["state"][0]

    async def finish(self, state: str, team: str, *, cookie_state: str | None = None) -> Page:
        """Slack's consent screen approved for workspace `team`: come back to the redirect URL."""
        code = self.bot.slack.workspaces.approve(team)
        cookie = f"{STATE_COOKIE}={cookie_state or state}"
        return await self.get(f"/slack/oauth_redirect?code={code}&state={state}", cookie=cookie)

    async def install(self, link: str, team: str) -> Page:
        """The whole install, from the link to the page shown at the end."""
        _, state = await self.start(link)
        assert state is not None, "the install link was refused"
        return await self.finish(state, team)


async def workspaces(bot: RunningBot) -> list[Workspace]:
    """Every installation's status row."""
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(Workspace).order_by(Workspace.key))).all())


async def raw_rows(bot: RunningBot, table: Any) -> list[dict[str, Any]]:
    """Every row of a table as stored."""
    async with bot.rt.db.sessions() as session:
        return [dict(row) for row in (await session.execute(select(table))).mappings()]
