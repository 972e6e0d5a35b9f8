"""Socket Mode: with SLACK_APP_TOKEN set, Slack traffic arrives over a WebSocket from the
(fake) Slack; the HTTP listener still serves health and metrics but not /slack/events."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from sqlalchemy import select

from storage.tables import AccessRequest
from tests.conftest import start_bot


def form(body: bytes) -> dict[str, Any]:
    return dict(parse_qsl(body.decode()))


async def test_commands_and_clicks_arrive_over_the_socket(database_url: str, fake_slack: Any, clock: Any) -> None:
    from bot.testing.slack_requests import block_actions_body, slash_command_body

    bot = await start_bot(database_url, fake_slack, clock, SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET=None)
    try:
        assert fake_slack.calls_to("apps.connections.open")
        ack = await fake_slack.send_envelope(
            "slash_commands",
            form(slash_command_body(text="help", user_id="U0ADM1", response_url=fake_slack.response_url_base + "s1")),
            accepts_response_payload=True,
        )
        assert "revoke" in json.dumps(ack.get("payload", {}))

        await fake_slack.send_envelope(
            "slash_commands",
            form(
                slash_command_body(
                    text="request",
                    user_id="U0ADM1",
                    trigger_id=fake_slack.new_trigger_id("U0ADM1"),
                    response_url=fake_slack.response_url_base + "s2",
                )
            ),
        )
        for _ in range(100):
            if fake_slack.views("U0ADM1"):
                break
            await asyncio.sleep(0.05)
        view = fake_slack.views("U0ADM1")[-1]
        from bot.testing.slack_requests import view_submission_body, view_values

        values = view_values(
            view,
            {
                "members": ["U0DEV1"],
                "blanket": False,
                "tier": "standard",
                "duration": "10",
                "use_case": "Fuzzing",
                "justification": "Fuzzing our own parsers for memory bugs.",
            },
        )
        submission = json.loads(form(view_submission_body(user_id="U0ADM1", view=view, values=values))["payload"])
        await fake_slack.send_envelope("interactive", submission, accepts_response_payload=True)
        await bot.settle()
        parent = fake_slack.messages("C0REPS")[-1]
        actions = fake_slack.replies("C0REPS", parent.ts)[0]
        approve = actions.button("Approve")
        click = json.loads(
            form(
                block_actions_body(
                    user_id="U0REP1",
                    action_id=approve["action_id"],
                    value=approve["value"],
                    channel_id="C0REPS",
                    message_ts=actions.ts,
                    response_url=fake_slack.response_url_base + "s3",
                )
            )["payload"]
        )
        await fake_slack.send_envelope("interactive", click)
        await bot.settle()
        async with bot.rt.db.sessions() as session:
            assert (await session.scalars(select(AccessRequest.status))).one() == "approved"

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.server.url}/healthz") as response:
                assert response.status == 200 and await response.json() == {"status": "ok"}
            async with http.post(f"{bot.server.url}/slack/events", data=b"{}") as response:
                assert response.status == 404
    finally:
        await bot.driver.close()
        await bot.server.stop()
