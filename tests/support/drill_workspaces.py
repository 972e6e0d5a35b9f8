"""The two workspaces every failure drill runs with: the home workspace and acme's, installed through
Trustbot's real OAuth flow (`/slack/install` with a link, Slack's consent, `/slack/oauth_redirect`).

acme is bound to its workspace (`slack_team`), its security channel and its people (admins, security
lead, members) are acme's there, so its alerts and its requesters' DMs go out with acme's token; globex,
the org the directory lacks, the reps, the operators and the default security channel stay home.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.support.installs import ACME_TEAM, BOUND_YAML, INSTALL_SETTINGS, STATE_COOKIE
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.fake_state import HOME_TEAM
from trustbot.standin.fake_workspaces import FakeWorkspace
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, DEV2, PEOPLE, SEC_LEAD

__all__ = ["ACME_TEAM", "BOUND_YAML", "HOME_TEAM", "INSTALL_SETTINGS", "WORKSPACES"]

ACME_CHANNEL = "C0ACMESEC"
ACME_PEOPLE = (ADMIN, ADMIN2, SEC_LEAD, DEV, DEV2)
WORKSPACES = {HOME_TEAM: "home", ACME_TEAM: "acme"}  # team id → the name the drill tables use


def two_workspace_fake() -> FakeSlack:
    """A fake Slack with the sample people at home, and acme's workspace holding acme's channel and people."""
    fake = FakeSlack(users=dict(PEOPLE))
    fake.workspaces.add(FakeWorkspace(team_id=ACME_TEAM, name="Acme Corp"))
    fake.add_channel(ACME_CHANNEL, team=ACME_TEAM)
    for person in ACME_PEOPLE:
        fake.add_user(person, PEOPLE[person], team=ACME_TEAM)
    return fake


def team_of_workspace(key: str | None) -> str:
    """The team an outbox row's workspace (installation key `E…:T…`, empty for home) is."""
    return (key or "").rsplit(":", 1)[-1] or HOME_TEAM


async def install_through(base_url: str, fake: FakeSlack, link: str, team: str) -> None:
    """An admin of `team` opens the install link at `base_url`, allows it on Slack's screen, and comes back."""
    token = parse_qs(urlsplit(link).query)["link"][0]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(f"{base_url}/slack/install?link={token}", allow_redirects=False) as sent:
            if sent.status != 302:
                raise RuntimeError(f"drill: /slack/install answered {sent.status}: {(await sent.text())[:300]}")
            state = parse_qs(urlsplit(sent.headers["Location"]).query)["state"][0]
        code = fake.workspaces.approve(team)
        back = f"{base_url}/slack/oauth_redirect?code={code}&state={state}"
        async with http.get(back, headers={"Cookie": f"{STATE_COOKIE}={state}"}, allow_redirects=False) as page:
            if page.status != 200:
                raise RuntimeError(f"drill: /slack/oauth_redirect answered {page.status}: {(await page.text())[:300]}")


async def install_acme_inprocess(server: Any, fake: FakeSlack) -> None:
    """Issue acme's install link (as `trustbot installs link acme` does) and install through the server's HTTP."""
    from trustbot.services.context import system_context
    from trustbot.services.installs.links import issue_install_link

    rt = server.rt
    async with rt.db.transaction() as session:
        ctx = system_context(rt.clock, rt.settings, as_user="drill")
        token = await issue_install_link(session, ctx, org_slug="acme")
    await install_through(server.url, fake, f"{rt.settings.public_url}/slack/install?link={token}", ACME_TEAM)


async def install_acme_child(base_url: str, env: dict[str, str], fake: FakeSlack) -> None:
    """`trustbot installs link acme` in a child's environment, then the install through that child's HTTP."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trustbot",
        "installs",
        "link",
        "acme",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    links = [line for line in out.decode().splitlines() if "/slack/install?link=" in line]
    if proc.returncode != 0 or not links:
        raise RuntimeError(f"drill: installs link acme exited {proc.returncode}: {err.decode()[-300:]}")
    await install_through(base_url, fake, links[-1].strip(), ACME_TEAM)
