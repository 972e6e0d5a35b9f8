"""The fake Slack itself: what slack_sdk sends is recorded, faults surface as Slack's do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, REP
from trustbot.standin.slack_requests import view_values

USERS = {ADMIN: "Ada Admin", REP: "Rita Rep"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=dict(USERS)) as server:
        yield server


def client(fake: FakeSlack, token: str = "xoxb-test") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.api_url, retry_handlers=[])


async def test_post_update_reply_and_dm_are_recorded_and_rendered(fake: FakeSlack) -> None:
    web = client(fake)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Request from <@U0ADM1> &amp; co"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "request.approve",
                    "value": "1",
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "request.deny",
                    "value": "1",
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
    ]
    first = await web.chat_postMessage(channel="C0REPS", text="new request", blocks=blocks)
    second = await web.chat_postMessage(channel="C0REPS", text="second")
    assert float(second["ts"]) > float(first["ts"])
    await web.chat_postMessage(channel="C0REPS", thread_ts=first["ts"], text="a reply for <@U0REP1>")
    await web.chat_update(channel="C0REPS", ts=first["ts"], text="decided", blocks=[])
    dm = await web.chat_postMessage(channel=ADMIN, text="see <https://example.test|the docs>")
    assert dm["channel"] == "DU0ADM1"
    opened = await web.conversations_open(users=REP)
    assert opened["channel"]["id"] == "DU0REP1"

    parent, _ = fake.messages("C0REPS")
    assert parent.text == "decided" and parent.edits[0].text == "new request"
    assert parent.edits[0].buttons() == ["Approve", "Deny"] and parent.buttons() == []
    assert parent.edits[0].button("Deny")["action_id"] == "request.deny"
    with pytest.raises(AssertionError, match="Approve"):
        parent.edits[0].button("Escalate")
    assert [r.text for r in fake.replies("C0REPS", parent.ts)] == ["a reply for <@U0REP1>"]
    assert [m.text for m in fake.dms(ADMIN)] == [m.text for m in fake.messages(ADMIN)]
    with pytest.raises(SlackApiError) as missing:
        await web.chat_update(channel="C0REPS", ts="1.2", text="x")
    assert missing.value.response["error"] == "message_not_found"

    transcript = fake.transcript()
    assert "#C0REPS  trustbot: Request from @Ada Admin & co" in transcript
    assert "[Approve] [Deny]" in transcript
    assert "    ↳ trustbot: a reply for @Rita Rep" in transcript
    assert "✎ edited #C0REPS message: decided" in transcript
    assert "DM → @Ada Admin: see the docs (https://example.test)" in transcript
    found = fake.find_message(contains="second")
    assert found is not None and (found.channel, found.ts, found.text) == ("C0REPS", second["ts"], "second")


async def test_auth_users_views_and_unknown_methods(fake: FakeSlack) -> None:
    web = client(fake)
    assert (await web.auth_test())["user_id"] == "UBOT"
    assert (await web.users_info(user=REP))["user"]["real_name"] == "Rita Rep"
    with pytest.raises(SlackApiError) as unauthed:
        await client(fake, token="nope").auth_test()
    assert unauthed.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as unknown:
        await web.api_call("chat.frobnicate")
    assert unknown.value.response["error"] == "unknown_method"
    modal = {
        "type": "modal",
        "callback_id": "request.submit",
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [
            {
                "type": "input",
                "block_id": "tier",
                "label": {"type": "plain_text", "text": "Tier"},
                "element": {
                    "type": "static_select",
                    "action_id": "tier_input",
                    "options": [{"value": "standard", "text": {"type": "plain_text", "text": "Standard"}}],
                },
            },
            {
                "type": "input",
                "block_id": "members",
                "label": {"type": "plain_text", "text": "Members"},
                "element": {"type": "multi_users_select", "action_id": "members_input"},
            },
        ],
    }
    opened = await web.views_open(trigger_id=fake.new_trigger_id(ADMIN), view=modal)
    assert opened["view"]["id"].startswith("V")
    await web.views_update(
        view_id=opened["view"]["id"], view={**modal, "title": {"type": "plain_text", "text": "Again"}}
    )
    [view] = fake.views(ADMIN)
    assert view["title"]["text"] == "Again" and fake.views(REP) == []
    assert view_values(view, {"tier": "standard"}) == {
        "tier": {
            "tier_input": {
                "type": "static_select",
                "selected_option": {"value": "standard", "text": {"type": "plain_text", "text": "Standard"}},
            }
        },
        "members": {"members_input": {"type": "multi_users_select", "selected_users": []}},
    }
    await web.views_publish(user_id=REP, view={"type": "home", "blocks": []})
    assert fake.home(REP)["type"] == "home"
    assert "[modal opened for @Ada Admin: Request access]" in fake.transcript()


async def test_response_url_posts_are_recorded_as_ephemerals(fake: FakeSlack) -> None:
    url = fake.new_response_url(REP, "C0REPS")
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"response_type": "ephemeral", "text": "Only reps may approve."}) as r,
    ):
        assert r.status == 200 and await r.text() == "ok"
    assert fake.responses[-1]["body"]["text"] == "Only reps may approve."
    assert fake.ephemerals(REP)[0]["text"] == "Only reps may approve."
    await client(fake).chat_postEphemeral(channel="C0REPS", user=ADMIN, text="psst")
    assert [e["text"] for e in fake.ephemerals(ADMIN)] == ["psst"]
    assert "(only @Rita Rep sees) Only reps may approve." in fake.transcript()
    assert [c.ok for c in fake.calls_to("chat.postEphemeral")] == [True]
    assert fake.calls_to("response") == []  # response_url posts are not Web API calls


async def test_injected_429_and_errors_surface_like_slack(fake: FakeSlack) -> None:
    web = client(fake)
    fake.fail("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as limited:
        await web.chat_postMessage(channel="C1", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    fake.fail("chat.postMessage", error="channel_not_found", channel="C2")
    await web.chat_postMessage(channel="C1", text="other channel is unaffected")
    with pytest.raises(SlackApiError) as not_found:
        await web.chat_postMessage(channel="C2", text="hi")
    assert not_found.value.response["error"] == "channel_not_found"
    fake.fail("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as unavailable:
        await web.chat_postMessage(channel="C1", text="hi")
    assert unavailable.value.response.status_code == 503
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200, 200, 503]
    assert [c.ok for c in fake.calls("chat.postMessage")] == [False, True, False, False]
    assert len(fake.messages("C1")) == 1 and fake.messages("C2") == []


async def test_hang_never_answers_and_delivers_nothing(fake: FakeSlack) -> None:
    fake.hang("chat.postMessage")
    web = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, timeout=1, retry_handlers=[])
    with pytest.raises(TimeoutError):
        await web.chat_postMessage(channel="C1", text="lost")
    assert fake.messages("C1") == [] and len(fake.hung_calls) == 1
    await web.chat_postMessage(channel="C1", text="second try")
    assert [m.text for m in fake.messages("C1")] == ["second try"]


async def test_rate_limited_channel_rejects_a_second_write_within_a_second(fake: FakeSlack) -> None:
    fake.rate_limit_channels(per_second=1.0)
    web = client(fake)
    await web.chat_postMessage(channel="C1", text="one")
    await web.chat_postMessage(channel="C2", text="other channel")
    with pytest.raises(SlackApiError) as limited:
        await web.chat_postMessage(channel="C1", text="two")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "1"
    assert [m.text for m in fake.messages("C1")] == ["one"]
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_socket_mode_envelope_round_trip(fake: FakeSlack) -> None:
    opened = await client(fake, token="xapp-1-test").apps_connections_open(app_token="xapp-1-test")
    async with aiohttp.ClientSession() as session, session.ws_connect(opened["url"]) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0APP"
        sending = asyncio.create_task(
            fake.send_envelope("slash_commands", {"command": "/trust", "text": "help"}, accepts_response_payload=True)
        )
        envelope = await ws.receive_json(timeout=5)
        assert envelope["type"] == "slash_commands" and envelope["payload"]["text"] == "help"
        assert envelope["accepts_response_payload"] is True
        started = time.monotonic()
        await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"text": "usage"}})
        ack = await sending
        assert ack == {"envelope_id": envelope["envelope_id"], "payload": {"text": "usage"}}
        assert time.monotonic() - started < 2


async def test_each_teams_token_reaches_only_its_own_teams_channels_and_people(fake_slack: FakeSlack) -> None:
    from trustbot.standin.fake_workspaces import CLIENT_ID, CLIENT_SECRET, FakeWorkspace

    fake_slack.workspaces.add(FakeWorkspace(team_id="T0ACME", name="Acme Corp"))
    fake_slack.add_channel("C0ACMESEC", team="T0ACME")
    fake_slack.add_user("U0ACME1", "Ann Acme", team="T0ACME")
    exchange = AsyncWebClient(base_url=fake_slack.api_url)
    code = fake_slack.workspaces.approve("T0ACME")
    token = (await exchange.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code))[
        "access_token"
    ]
    acme, home = (
        AsyncWebClient(base_url=fake_slack.api_url, token=token),
        AsyncWebClient(base_url=fake_slack.api_url, token="xoxb-home"),
    )

    async def refusal(call: Any) -> str:
        with pytest.raises(SlackApiError) as refused:
            await call
        return str(refused.value.response["error"])

    assert await refusal(home.chat_postMessage(channel="C0ACMESEC", text="x")) == "channel_not_found"
    assert await refusal(home.chat_postMessage(channel="U0ACME1", text="x")) == "channel_not_found"
    assert await refusal(home.conversations_history(channel="C0ACMESEC")) == "channel_not_found"
    assert await refusal(acme.chat_postMessage(channel="C0REPS", text="x")) == "channel_not_found"
    await acme.chat_postMessage(channel="C0ACMESEC", text="alert")
    await acme.chat_postMessage(channel="U0ACME1", text="hello")
    await home.chat_postMessage(channel="C0REPS", text="card")
    assert [m.text for m in fake_slack.messages("C0ACMESEC", team="T0ACME")] == ["alert"]
    assert [m.text for m in fake_slack.dms("U0ACME1", team="T0ACME")] == ["hello"]
    assert [m.text for m in fake_slack.messages("C0REPS")] == ["card"]
    fake_slack.workspaces.revoke("T0ACME")
    assert await refusal(acme.chat_postMessage(channel="C0ACMESEC", text="x")) == "invalid_auth"
