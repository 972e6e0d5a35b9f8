"""Socket Mode: with SLACK_APP_TOKEN set, Slack traffic arrives over a WebSocket from the
(fake) Slack; the HTTP listener still serves health and metrics but not /slack/events."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from sqlalchemy import select

from tests.support.bots import start_bot
from trustbot.messages.help import build_help_blocks
from trustbot.standin.sample import ADMIN, DEV, REP
from trustbot.storage.tables import AccessRequest, Grant


def form(body: bytes) -> dict[str, Any]:
    return dict(parse_qsl(body.decode()))


async def test_commands_and_clicks_arrive_over_the_socket(database_url: str, fake_slack: Any, clock: Any) -> None:
    from trustbot.standin.slack_requests import slash_command_body

    bot = await start_bot(database_url, fake_slack, clock, SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET=None)
    try:
        assert [c.ok for c in fake_slack.calls_to("apps.connections.open")] == [True]
        ack = await fake_slack.send_envelope(
            "slash_commands",
            form(slash_command_body(text="help", user_id=ADMIN, response_url=fake_slack.response_url_base + "s1")),
            accepts_response_payload=True,
        )
        # The help is the envelope's ack payload itself: no response_url post, no Web API call.
        payload = ack["payload"]
        help_message = build_help_blocks()
        assert payload["response_type"] == "ephemeral"
        assert payload["text"] == help_message.text and "/trust revoke <grant-id> <reason>" in payload["text"]
        assert payload["blocks"] == [block.to_dict() for block in help_message.blocks]
        assert fake_slack.responses == []

        await submit_request_over_socket(fake_slack)
        await bot.settle()
        parent = fake_slack.messages("C0REPS")[-1]
        actions = fake_slack.replies("C0REPS", parent.ts)[0]
        await fake_slack.send_envelope("interactive", approve_click(fake_slack, actions))
        await bot.settle()
        async with bot.rt.db.sessions() as session:
            assert (await session.scalars(select(AccessRequest.status))).one() == "approved"
            assert (await session.scalars(select(Grant.status))).one() == "active"

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.server.url}/healthz") as response:
                assert response.status == 200 and await response.json() == {"status": "ok"}
            async with http.post(f"{bot.server.url}/slack/events", data=b"{}") as response:
                assert response.status == 404
    finally:
        await bot.driver.close()
        await bot.server.stop()


async def submit_request_over_socket(fake_slack: Any) -> None:
    """The admin runs `/trust request` and submits the modal, both as Socket Mode envelopes."""
    from trustbot.standin.slack_requests import slash_command_body, view_submission_body, view_values

    await fake_slack.send_envelope(
        "slash_commands",
        form(
            slash_command_body(
                text="request",
                user_id=ADMIN,
                trigger_id=fake_slack.new_trigger_id(ADMIN),
                response_url=fake_slack.response_url_base + "s2",
            )
        ),
    )
    for _ in range(100):
        if fake_slack.views(ADMIN):
            break
        await asyncio.sleep(0.05)
    view = fake_slack.views(ADMIN)[-1]
    values = view_values(
        view,
        {
            "members": [DEV],
            "blanket": False,
            "tier": "standard",
            "duration": "10",
            "use_case": "Fuzzing",
            "justification": "Fuzzing our own parsers for memory bugs.",
        },
    )
    submission = json.loads(form(view_submission_body(user_id=ADMIN, view=view, values=values))["payload"])
    await fake_slack.send_envelope("interactive", submission, accepts_response_payload=True)


def approve_click(fake_slack: Any, actions: Any) -> Any:
    """The block_actions payload of the rep clicking Approve on the request's buttons in the reps channel."""
    from trustbot.standin.slack_requests import block_actions_body

    approve = actions.button("Approve")
    return json.loads(
        form(
            block_actions_body(
                user_id=REP,
                action_id=approve["action_id"],
                value=approve["value"],
                channel_id="C0REPS",
                message_ts=actions.ts,
                response_url=fake_slack.response_url_base + "s3",
            )
        )["payload"]
    )
