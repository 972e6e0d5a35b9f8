"""Chapter: acme's IdP provisions its team by SCIM, deprovisions one person, revokes another's session by a
signed SET; the gateway's answers change, and an admin's Confirm lifts the hold."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import aiohttp

from trustbot.demo.chapters.gateway import ask_gateway
from trustbot.demo.story import Story
from trustbot.standin.sample import ADMIN, EMAILS

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TEAM = (*(EMAILS[u] for u in sorted(EMAILS) if EMAILS[u].endswith("@acme.com")), "new.hire@acme.com")
GONE, REVOKED = "eli@acme.com", "dana@acme.com"  # deprovisioned; session revoked
ASKED = (GONE, REVOKED)


def _user(email: str) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": email, "active": True,
            "emails": [{"value": email, "primary": True, "type": "work"}]}  # fmt: skip


async def _scim(http: aiohttp.ClientSession, token: str, method: str, url: str, body: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    async with http.request(method, url, data=json.dumps(body).encode(), headers=headers) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"SCIM {method} {url}: {resp.status} {await resp.text()}")
        answer: dict[str, Any] = await resp.json(content_type=None)
        return answer


def _webhooks(story: Story) -> None:
    """One line for the webhooks the gateway got since last shown (counted by type), then mark them shown."""
    new = story.gateway.events[story.shown_events :]
    story.shown_events = len(story.gateway.events)
    counts = Counter(event["type"] for event in new)
    if new and not story.quiet:
        kinds = ", ".join(kind if n == 1 else f"{kind} ×{n}" for kind, n in counts.items())
        story.out.write(f"   [gateway ← webhooks {kinds}, signatures verified]\n")


async def identity(story: Story) -> None:
    """SCIM provisioning → deprovisioning → a session-revoked SET holds → the admin confirms."""
    from trustbot.services.context import system_context
    from trustbot.services.identity.scim_common import issue_token

    assert story.idp is not None
    async with story.rt.db.transaction() as session:
        token = await issue_token(session, system_context(story.clock, story.rt.settings), org_slug="acme")
    users = f"{story.server.url}/scim/v2/Users"
    async with aiohttp.ClientSession() as http:
        story.say("Acme's identity provider provisions the team into Trustbot by SCIM")
        ids = {email: (await _scim(http, token, "POST", users, _user(email)))["id"] for email in TEAM}
        if not story.quiet:
            story.out.write(f"   [IdP → SCIM POST /Users ×{len(ids)}: {', '.join(ids)}]\n")
        await story.settle()
        _webhooks(story)
        await ask_gateway(story, ASKED)

        story.say(f"The IdP deprovisions {GONE} (SCIM active: false)")
        patch = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
        await _scim(http, token, "PATCH", f"{users}/{ids[GONE]}", patch)
        await story.settle()
        _webhooks(story)
        await ask_gateway(story, ASKED)

        story.say(f"The IdP revokes {REVOKED}'s session: a signed Security Event Token to /ssf/events")
        signed = story.idp.revoke_session(REVOKED, aud=story.rt.settings.public_url or "")
        headers = {"Content-Type": "application/secevent+jwt"}
        async with http.post(f"{story.server.url}/ssf/events", data=signed.encode(), headers=headers) as resp:
            if resp.status != 202:
                raise RuntimeError(f"SSF: {resp.status} {await resp.text()}")
            if not story.quiet:
                story.out.write(f"   [IdP → POST /ssf/events (session-revoked, ES256): {resp.status}]\n")
    await story.settle()
    _webhooks(story)
    await ask_gateway(story, ASKED)

    story.say("Ada confirms the signal was handled; the hold lifts")
    ask = [m for m in story.slack.dms(ADMIN) if "Confirm" in m.buttons()][-1]
    await story.acme.click(ADMIN, ask, "Confirm")
    await story.settle()
    _webhooks(story)
    await ask_gateway(story, ASKED)
