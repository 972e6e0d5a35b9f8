"""Chapter: an operator issues an install link for acme; acme's admin opens it in a browser, allows Trustbot
on Slack's consent screen and comes back: Trustbot is installed in acme's own workspace, bound to acme."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import aiohttp

from trustbot.demo.story import Story
from trustbot.demo.workspaces import ACME_TEAM

_TITLE = re.compile(r"<h1>(.*?)</h1>")


async def _issue_link(story: Story) -> str:
    """What `trustbot installs link acme` prints."""
    from trustbot.services.context import system_context
    from trustbot.services.installs.links import issue_install_link

    async with story.rt.db.transaction() as session:
        ctx = system_context(story.clock, story.rt.settings, as_user="cli")
        token = await issue_install_link(session, ctx, org_slug="acme")
    return f"{story.rt.settings.public_url}/slack/install?link={token}"


def _note(story: Story, text: str) -> None:
    if not story.quiet:
        story.out.write(f"   [{text}]\n")


async def _browse(story: Story, link: str) -> tuple[int, str]:
    """The admin's browser: the link, Slack's consent screen (the fake's), and back to the redirect URL."""
    async with aiohttp.ClientSession() as http:
        async with http.get(link, allow_redirects=False) as response:
            location = response.headers.get("Location", "")
            cookies = SimpleCookie(response.headers.get("Set-Cookie", ""))
        if response.status != 302:
            raise RuntimeError(f"the install link was refused ({response.status})")
        consent = urlsplit(location)
        _note(story, f"browser → GET /slack/install: {response.status} to Slack's consent screen ({consent.path})")
        state = parse_qs(consent.query)["state"][0]
        code = story.slack.workspaces.approve(ACME_TEAM)  # Ada clicked Allow: Slack sends her back with a code
        # Browsers keep a Secure cookie for 127.0.0.1 (a trustworthy origin); aiohttp's jar would not send it.
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
        redirect = f"{story.server.url}/slack/oauth_redirect?code={code}&state={state}"
        async with http.get(redirect, headers={"Cookie": cookie}, allow_redirects=False) as back:
            return back.status, await back.text()


async def install_acme(story: Story) -> None:
    """Link → `/slack/install` → consent → `/slack/oauth_redirect` → installed; `installs list` shows it."""
    from trustbot.services.installs.workspaces import list_installations

    story.say("Olga issues a single-use install link for acme (`trustbot installs link acme`)")
    link = await _issue_link(story)
    _note(story, f"trustbot installs link acme: {link[: link.index('link=') + 13]}…")
    story.say("Ada opens it, allows Trustbot in Acme's own Slack workspace, and is sent back")
    status, page = await _browse(story, link)
    title = _TITLE.search(page)
    _note(story, f"browser → GET /slack/oauth_redirect: {status} «{title.group(1) if title else page[:80]}»")
    if status != 200:
        raise RuntimeError(f"the install did not finish ({status})")
    await story.settle()
    async with story.rt.db.sessions() as session:
        rows = await list_installations(session)
    for row in rows:
        _note(story, f"trustbot installs list: {row['team']} {row['name']!r} → {row['org']}, {row['status']}")
