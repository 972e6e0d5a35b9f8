"""The customer's IdP decides who is still one of theirs, end to end over real HTTP: acme's IdP provisions its
team by SCIM, a blanket and an IdP-group grant are approved in Slack, and a deprovisioning at the IdP turns
`/v1/entitlements` false at once and reaches the gateway as a signed `grant.members_changed`; the admins hear
of a whole sync burst in one message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.bots import RunningBot
from tests.support.factories import system
from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request
from tests.support.scim import GROUP_SCHEMA, Scim, patch, user
from trustbot.clock import FixedClock
from trustbot.scheduler.runs import run_job
from trustbot.services.identity.scim_common import issue_token
from trustbot.standin.gateway import FakeGateway
from trustbot.standin.sample import ADMIN

NOT_PROVISIONED = "not provisioned by the org's identity provider"
DEACTIVATED = "deactivated at the org's identity provider"


@pytest.fixture
async def idp(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> AsyncIterator[tuple[RunningBot, FakeGateway, Scim]]:
    import aiohttp

    async with gateway_bot(database_url, fake_slack, clock, TRUSTBOT_IDENTITY_DIGEST_QUIET_SECONDS="30") as (bot, gw):
        async with bot.rt.db.transaction() as session:
            token = await issue_token(session, system(clock, as_user="test"), org_slug="acme")
        async with aiohttp.ClientSession() as http:
            yield bot, gw, Scim(http, bot.server.url + "/scim/v2", token)


async def _verdict(gateway: FakeGateway, email: str) -> tuple[bool, str | None, str | None]:
    answer = await gateway.ask(email)
    return answer["entitled"], answer["tier"], answer["reason"]


def _member(event: dict[str, Any], email: str) -> dict[str, Any] | None:
    return next((m for m in event["data"]["grant"]["members"] if m["email"] == email), None)


async def test_the_idp_decides_who_a_blanket_and_a_group_grant_cover(
    idp: tuple[RunningBot, FakeGateway, Scim], clock: FixedClock
) -> None:
    bot, gateway, scim = idp
    ids = {}
    for name in ("dana@acme.com", "eli@acme.com", "new.hire@acme.com"):
        status, body, _ = await scim.call("POST", "/Users", user(name))
        assert status == 201
        ids[name] = body["id"]
    status, body, _ = await scim.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "Red Team", "members": [{"value": ids["eli@acme.com"]}]},
    )
    assert status == 201
    group = body["id"]

    await submit_request(bot, members=[], blanket=True, tier="standard")
    await approve_latest(bot)
    response = await submit_request(bot, members=[], blanket=False, group=group, tier="enhanced")
    assert response.status == 200, response.body
    await approve_latest(bot)
    card = bot.slack.messages("C0REPS")[-1]  # the group request's card names the group and its size
    assert "the identity provider's group *Red Team* (1 person now)" in json.dumps(card.blocks)

    assert await _verdict(gateway, "eli@acme.com") == (True, "enhanced", None)  # through the IdP group
    assert await _verdict(gateway, "dana@acme.com") == (True, "standard", None)  # through the blanket
    assert await _verdict(gateway, "stranger@acme.com") == (False, None, NOT_PROVISIONED)

    seen = len(gateway.events)
    await scim.call(
        "PATCH", f"/Users/{ids['eli@acme.com']}", patch({"op": "replace", "path": "active", "value": "False"})
    )
    assert await _verdict(gateway, "eli@acme.com") == (False, None, DEACTIVATED)  # before any delivery pass
    assert (await scim.call("DELETE", f"/Users/{ids['new.hire@acme.com']}"))[0] == 204
    assert await _verdict(gateway, "new.hire@acme.com") == (False, None, NOT_PROVISIONED)

    await bot.settle()
    events = gateway.events[seen:]
    assert {e["type"] for e in events} == {"grant.members_changed"}
    group_events = [e for e in events if e["data"]["grant"]["group"] is not None]
    assert group_events and group_events[0]["data"]["grant"]["group"]["name"] == "Red Team"
    assert _member(group_events[0], "eli@acme.com") == {
        "slack_id": None, "email": "eli@acme.com", "held": True, "reason": DEACTIVATED,
    }  # fmt: skip
    assert any(e["data"]["grant"]["scope"] == "blanket" for e in events)  # the blanket grant changed too

    # One message to the admins for the whole burst, once it is quiet; nothing the second time.
    before = len(bot.slack.dms(ADMIN))
    clock.advance(timedelta(seconds=31))
    result = await run_job(bot.rt.db, clock, bot.rt.settings, "identity-digest")
    assert result.outcome == "1 digests, 7 changes", result
    await bot.settle()
    [digest] = bot.slack.dms(ADMIN)[before:]
    assert "1 person deactivated (no longer covered): eli@acme.com" in digest.text
    assert "1 person deprovisioned (no longer covered): new.hire@acme.com" in digest.text
    clock.advance(timedelta(minutes=1))
    assert (await run_job(bot.rt.db, clock, bot.rt.settings, "identity-digest")).outcome == "0 digests, 0 changes"


async def test_a_burst_still_going_is_not_told_yet(
    idp: tuple[RunningBot, FakeGateway, Scim], clock: FixedClock
) -> None:
    bot, _, scim = idp
    assert (await scim.call("POST", "/Users", user("dana@acme.com")))[0] == 201
    clock.advance(timedelta(seconds=10))
    assert (await run_job(bot.rt.db, clock, bot.rt.settings, "identity-digest")).outcome == "0 digests, 0 changes"
