"""Socket Mode: with SLACK_APP_TOKEN set, Slack traffic arrives over a WebSocket from the
(fake) Slack; the HTTP listener still serves health and metrics but not /slack/events."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from tests.support.bots import start_bot
from tests.support.slack_flows import approve_click, form, submit_request_over_socket
from trustbot.messages.help import build_help_blocks
from trustbot.standin.sample import ADMIN
from trustbot.storage.tables import AccessRequest, Grant


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
