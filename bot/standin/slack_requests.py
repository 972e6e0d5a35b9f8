"""Build and sign what Slack sends to a bot (slash commands, clicks, modal submissions, events),
and `SlackDriver`, which posts them to a running bot over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

import aiohttp

from trustbot.slack.signing import v0_signature
from trustbot.standin.view_state import view_values

if TYPE_CHECKING:
    from trustbot.standin.fake_slack import FakeSlack, Message

FORM = "application/x-www-form-urlencoded"
APP_ID = "A0APP"
TEAM_DOMAIN = "trustbot-test"


def sign_request(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature headers for `body`."""
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": v0_signature(secret, stamp, body)}


def _user(user_id: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def _team(team_id: str) -> dict[str, str]:
    return {"id": team_id, "domain": TEAM_DOMAIN}


def _payload_form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command_body(
    *,
    text: str,
    user_id: str,
    channel_id: str = "C0GENERAL",
    command: str = "/trust",
    team_id: str = "T0TEAM",
    response_url: str,
    trigger_id: str | None = None,
    api_app_id: str = APP_ID,
) -> bytes:
    """A slash-command body, form-encoded exactly like Slack's (`team_id` is the typist's own workspace)."""
    fields = {
        "token": "verification-token-unused",
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else channel_id.lower(),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
    }
    return urlencode(fields).encode()


def block_actions_body(
    *,
    user_id: str,
    action_id: str,
    value: str,
    block_id: str = "b",
    channel_id: str | None = None,
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    response_url: str | None = None,
    trigger_id: str | None = None,
    team_id: str = "T0TEAM",
    text: str = "",
    selected_option: dict[str, Any] | None = None,
    user_team_id: str | None = None,
    api_app_id: str = APP_ID,
) -> bytes:
    """A `block_actions` payload for one button click (or, with `selected_option`, a static select choice).

    `team_id` is the installing workspace (`team.id`), `user_team_id` the clicker's (`user.team_id`, by default
    the same): they differ for an external person in a Slack Connect channel."""
    now = f"{time.time():.6f}"
    if channel_id and message_ts:
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
    else:
        container = {"type": "view", "view_id": (view or {}).get("id", "")}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": api_app_id,
        "token": "unused",
        "container": container,
        "trigger_id": trigger_id or f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "action_ts": now,
            }
        ],
    }
    if selected_option is not None:
        payload["actions"] = [_as_select(payload["actions"][0], selected_option)]
    if channel_id:
        payload["channel"] = {"id": channel_id, "name": channel_id.lower()}
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
    if response_url:
        payload["response_url"] = response_url
    return _payload_form(payload)


def _as_select(action: dict[str, Any], option: dict[str, Any]) -> dict[str, Any]:
    """A button action turned into the choice of `option` in a static select, as Slack sends it."""
    kept = {k: v for k, v in action.items() if k not in ("value", "text")}
    return {**kept, "type": "static_select", "selected_option": option}


def view_submission_body(
    *,
    user_id: str,
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    team_id: str = "T0TEAM",
    user_team_id: str | None = None,
    api_app_id: str = APP_ID,
) -> bytes:
    """A `view_submission` payload for `view` with `state.values` set, form-encoded.

    As Slack sends it, `team.id` is the submitter's workspace (`user_team_id`, by default `team_id`) and
    `view.app_installed_team_id` the installing one (`team_id`)."""
    submitted = {**view, "state": {"values": values}}
    submitted.setdefault("app_installed_team_id", team_id)
    submitted.setdefault("id", "V0000000")
    submitted.setdefault("hash", f"{time.time():.6f}.fake")
    submitted.setdefault("callback_id", "")
    submitted.setdefault("private_metadata", "")
    payload = {
        "type": "view_submission",
        "team": _team(user_team_id or team_id),
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": api_app_id,
        "token": "unused",
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload_form(payload)


def event_callback_body(*, event: dict[str, Any], event_id: str, team_id: str = "T0TEAM") -> bytes:
    """An Events API `event_callback` body (JSON)."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }
    ).encode()


def _find_option(message: Message, placeholder: str, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The static select shown as `placeholder` in `message` (or in an earlier version a stale client still shows),
    with its block_id, and its option labelled `text`."""
    blocks = [b for version in [message, *reversed(message.edits)] for b in version.blocks or []]
    for block in blocks:
        for element in block.get("elements") or [] if block.get("type") == "actions" else []:
            if element.get("type") == "static_select" and (element.get("placeholder") or {}).get("text") == placeholder:
                for option in element.get("options") or []:
                    if option["text"]["text"] == text:
                        return {**element, "block_id": block.get("block_id", "b")}, option
    raise AssertionError(f"no select {placeholder!r} with option {text!r} in message {message.ts} in {message.channel}")


def _find_button(message: Message, text: str) -> dict[str, Any]:
    """The button in the message, or in an earlier version still shown in a stale client."""
    for version in [message, *reversed(message.edits)]:
        if text in version.buttons():
            return version.button(text)
    seen = [b for v in [message, *message.edits] for b in v.buttons()]
    raise AssertionError(
        f"no button {text!r} in message {message.ts} in {message.channel}; "
        f"buttons now: {message.buttons()}; in any version: {sorted(set(seen))}"
    )


@dataclass
class DriverResponse:
    """The bot's answer to one request."""

    status: int
    body: str
    json: Any
    elapsed: float
    headers: dict[str, str]


class SlackDriver:
    """Plays Slack towards a running bot: signs and posts commands, clicks, submissions and events."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        fake: FakeSlack,
        *,
        team_id: str = "T0TEAM",
        user_team_id: str | None = None,
        app_id: str = APP_ID,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.fake = fake
        self.team_id = team_id  # the installation the payloads come through (`team.id` of clicks)
        self.user_team_id = user_team_id  # the acting people's own team when not that one (Slack Connect)
        self.app_id = app_id
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> DriverResponse:
        """POST `body` with exactly `headers` (no signing added)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        started = time.monotonic()
        async with self._session.post(self.url, data=body, headers=headers) as response:
            text = await response.text()
            elapsed = time.monotonic() - started
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return DriverResponse(response.status, text, parsed, elapsed, dict(response.headers))

    async def post_signed(
        self, body: bytes, content_type: str = FORM, extra_headers: dict[str, str] | None = None
    ) -> DriverResponse:
        """Sign `body` with the bot's secret and POST it."""
        headers = {**sign_request(self.signing_secret, body), "Content-Type": content_type, **(extra_headers or {})}
        return await self.post_raw(body, headers)

    @staticmethod
    def _retry_headers(retry_num: int | None, reason: str = "http_timeout") -> dict[str, str]:
        if retry_num is None:
            return {}
        return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}

    async def command(
        self, user: str, text: str, channel: str = "C0GENERAL", *, retry_num: int | None = None, command: str = "/trust"
    ) -> DriverResponse:
        """`/trust <text>` typed by `user` in `channel`; status 0 (nothing sent) when Slack would not deliver it:
        the person's own workspace has not installed the app (or uninstalled it), as for a Slack Connect
        channel's external people. A team the fake does not know is sent as given (a forged payload)."""
        own = self.user_team_id or self.team_id
        workspaces = self.fake.workspaces
        if own in workspaces.known and not workspaces.has_installed(own):
            return DriverResponse(0, f"{command} is not a valid command", None, 0.0, {})
        body = slash_command_body(
            text=text,
            user_id=user,
            channel_id=channel,
            command=command,
            team_id=self.user_team_id or self.team_id,
            response_url=self.fake.new_response_url(user, channel),
            trigger_id=self.fake.new_trigger_id(user, self.team_id),
            api_app_id=self.app_id,
        )
        return await self.post_signed(body, extra_headers=self._retry_headers(retry_num))

    async def click(self, user: str, message: Message, button_text: str) -> DriverResponse:
        """`user` clicks the button labelled `button_text` in `message`."""
        button = _find_button(message, button_text)
        as_json = {
            "type": "message",
            "user": message.user,
            "bot_id": "BBOT",
            "ts": message.ts,
            "text": message.text,
            "blocks": message.blocks,
            "team": self.team_id,
        }
        if message.thread_ts:
            as_json["thread_ts"] = message.thread_ts
        body = block_actions_body(
            user_id=user,
            action_id=button.get("action_id", ""),
            value=button.get("value", ""),
            block_id=button.get("block_id", "b"),
            channel_id=message.channel,
            message_ts=message.ts,
            message=as_json,
            response_url=self.fake.new_response_url(user, message.channel, message.ts),
            trigger_id=self.fake.new_trigger_id(user, self.team_id),
            team_id=self.team_id,
            text=button_text,
            user_team_id=self.user_team_id,
            api_app_id=self.app_id,
        )
        return await self.post_signed(body)

    async def choose(self, user: str, message: Message, placeholder: str, option_text: str) -> DriverResponse:
        """`user` picks `option_text` in the static select shown as `placeholder` in `message`."""
        select, option = _find_option(message, placeholder, option_text)
        body = block_actions_body(
            user_id=user,
            action_id=select.get("action_id", ""),
            value="",
            block_id=select.get("block_id", "b"),
            channel_id=message.channel,
            message_ts=message.ts,
            message={"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
            response_url=self.fake.new_response_url(user, message.channel, message.ts),
            trigger_id=self.fake.new_trigger_id(user, self.team_id),
            team_id=self.team_id,
            selected_option=option,
            user_team_id=self.user_team_id,
            api_app_id=self.app_id,
        )
        return await self.post_signed(body)

    async def click_in_view(
        self, user: str, view: dict[str, Any], action_id: str, value: str, block_id: str = "b"
    ) -> DriverResponse:
        """`user` clicks a button (`action_id`, `value`) inside a modal or App Home view."""
        body = block_actions_body(
            user_id=user,
            action_id=action_id,
            value=value,
            block_id=block_id,
            view=view,
            trigger_id=self.fake.new_trigger_id(user, self.team_id),
            team_id=self.team_id,
            user_team_id=self.user_team_id,
            api_app_id=self.app_id,
        )
        return await self.post_signed(body)

    async def submit(self, user: str, view: dict[str, Any], **fields: Any) -> DriverResponse:
        """`user` submits modal `view` with input values given by block_id (see `element_state`)."""
        body = view_submission_body(
            user_id=user,
            view=view,
            values=view_values(view, fields),
            team_id=self.team_id,
            user_team_id=self.user_team_id,
            api_app_id=self.app_id,
        )
        return await self.post_signed(body)

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> DriverResponse:
        """Deliver an Events API event (optionally as Slack's retry number `retry_num`)."""
        body = event_callback_body(
            event=event, event_id=event_id or f"Ev{uuid.uuid4().hex[:10].upper()}", team_id=self.team_id
        )
        return await self.post_signed(body, "application/json", self._retry_headers(retry_num))
