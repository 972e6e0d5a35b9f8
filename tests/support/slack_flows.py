"""Steps many tests take through the fake Slack: a request submitted through its modal (over HTTP or
Socket Mode), the rep's Approve click, App Home opened."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from tests.support.bots import START, RunningBot
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, DEV, REP
from trustbot.standin.slack_requests import DriverResponse, block_actions_body, slash_command_body, view_submission_body
from trustbot.standin.transcript import Message
from trustbot.standin.view_state import view_values

REPS_CHANNEL = "C0REPS"
# A valid request form: one named member, blanket access, a standard tier for 30 days.
GOOD: dict[str, Any] = {
    "members": [DEV],
    "blanket": True,
    "tier": "standard",
    "duration": "30",
    "use_case": "Malware analysis",
    "justification": "Our SOC reverse-engineers samples daily.",
}


async def open_and_submit(bot: RunningBot, user: str = ADMIN, **fields: Any) -> DriverResponse:
    """`user` runs `/trust request` and submits the modal (`GOOD`, with `fields` changed); the answer."""
    await bot.driver.command(user, "request")
    await bot.settle()
    view = bot.slack.views(user)[-1]
    response = await bot.driver.submit(user, view, **{**GOOD, **fields})
    await bot.settle()
    return response


def request_messages(bot: RunningBot) -> tuple[Message, Message]:
    """The newest request's parent message in the reps channel, and the thread reply holding its buttons."""
    parent = bot.slack.messages(REPS_CHANNEL)[-1]
    return parent, bot.slack.replies(REPS_CHANNEL, parent.ts)[0]


def home_event(user: str, tab: str = "home") -> dict[str, Any]:
    """The `app_home_opened` event of `user` opening a tab of the app."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user[1:]}",
        "tab": tab,
        "event_ts": f"{START.timestamp():.6f}",
    }


async def open_home(
    bot: RunningBot, user: str, *, event_id: str | None = None, retry_num: int | None = None
) -> DriverResponse:
    """`user` opens the app's Home (as Slack's retry `retry_num` of `event_id`, if given); acked with 200."""
    response = await bot.driver.event(home_event(user), event_id=event_id, retry_num=retry_num)
    await bot.settle()
    assert response.status == 200
    return response


def form(body: bytes) -> dict[str, str]:
    """A form-encoded Slack body as a dict."""
    return dict(parse_qsl(body.decode()))


async def submit_request_over_socket(fake_slack: FakeSlack) -> None:
    """The admin runs `/trust request` and submits the modal, both as Socket Mode envelopes."""
    command = slash_command_body(
        text="request",
        user_id=ADMIN,
        trigger_id=fake_slack.new_trigger_id(ADMIN),
        response_url=fake_slack.response_url_base + "s2",
    )
    await fake_slack.send_envelope("slash_commands", form(command))
    for _ in range(100):
        if fake_slack.views(ADMIN):
            break
        await asyncio.sleep(0.05)
    assert fake_slack.views(ADMIN), "the request modal was not opened"
    view = fake_slack.views(ADMIN)[-1]
    fields = {
        "members": [DEV],
        "blanket": False,
        "tier": "standard",
        "duration": "10",
        "use_case": "Fuzzing",
        "justification": "Fuzzing our own parsers for memory bugs.",
    }
    body = view_submission_body(user_id=ADMIN, view=view, values=view_values(view, fields))
    submission = json.loads(form(body)["payload"])
    await fake_slack.send_envelope("interactive", submission, accepts_response_payload=True)


def approve_click(fake_slack: FakeSlack, actions: Message) -> dict[str, Any]:
    """The block_actions payload of the rep clicking Approve on the request's buttons in the reps channel."""
    approve = actions.button("Approve")
    body = block_actions_body(
        user_id=REP,
        action_id=approve["action_id"],
        value=approve["value"],
        channel_id=REPS_CHANNEL,
        message_ts=actions.ts,
        response_url=fake_slack.response_url_base + "s3",
    )
    payload: dict[str, Any] = json.loads(form(body)["payload"])
    return payload
