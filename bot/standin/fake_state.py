"""What the fake Slack holds: channels and their messages, views and Home tabs, and the readers tests use."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

from trustbot.standin.transcript import Call, CallList, Message, render_content, render_transcript

HOME_TEAM = "T0TEAM"


class SlackState:
    """Messages, views and recordings, changed by the fake's Web API methods and read by tests.

    Channels and users belong to a team (the home workspace unless added to a customer one with
    `add_channel` / `add_user`); the team of the token a call comes with is `_caller_team`, and a DM
    with a user of a customer workspace is a channel of that workspace (`D<user>-<team>`).
    """

    users: dict[str, str]
    profiles: dict[str, dict[str, Any]]
    app_id: str
    calls: CallList
    _channels: dict[str, list[Message]]
    _events: list[dict[str, Any]]
    _view_log: list[tuple[str | None, dict[str, Any]]]
    _views_by_id: dict[str, dict[str, Any]]
    _view_user: dict[str, str | None]
    _homes: dict[str, dict[str, Any]]
    _ephemerals: list[dict[str, Any]]
    _triggers: dict[str, tuple[str | None, str]]
    _response_urls: dict[str, dict[str, Any]]
    _last_ts: int
    _ids: itertools.count[int]
    port: int | None
    host: str
    channel_teams: dict[str, str]
    user_teams: dict[str, str]
    _caller_team: str

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/`."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """Base URL for slack_sdk's `AsyncWebClient(base_url=...)`."""
        return self.base_url + "api/"

    @property
    def response_url_base(self) -> str:
        """Prefix of response_urls; append any token."""
        return self.base_url + "response/"

    # -- ids ---------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        # Like Slack's: the wall-clock time of the post, unique within the workspace, so history
        # windows (`oldest`, `latest`) mean what they mean in Slack.
        micros = max(time.time_ns() // 1000, self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_trigger_id(self, user: str | None = None, team: str = HOME_TEAM) -> str:
        """A trigger_id that views.open will attribute to `user`, handed out through workspace `team`'s
        installation (only that installation's token can open a view with it, as in Slack)."""
        trigger = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(8)}"
        self._triggers[trigger] = (user, team)
        return trigger

    def new_response_url(
        self, user: str | None = None, channel: str | None = None, message_ts: str | None = None
    ) -> str:
        """A fresh response_url whose posts are attributed to `user` (and the clicked message)."""
        token = secrets.token_hex(12)
        self._response_urls[token] = {"user": user, "channel": channel, "message_ts": message_ts}
        return self.response_url_base + token

    @staticmethod
    def dm_channel(user: str) -> str:
        """The DM channel id the fake uses for a user."""
        return user if user.startswith("D") else "D" + user

    def _resolve(self, channel: str, team: str | None = None) -> str:
        if channel[:1] not in ("U", "W"):
            return channel
        team = team or self._caller_team
        return self.dm_channel(channel) if team == HOME_TEAM else f"D{channel}-{team}"

    def team_of_channel(self, channel: str) -> str:
        """The team a (resolved) channel belongs to: a customer DM's, an added channel's, else home."""
        if channel in self.channel_teams:
            return self.channel_teams[channel]
        if channel[:1] == "D" and "-" in channel:
            return channel.rsplit("-", 1)[1]
        if channel[:1] == "D":
            return self.user_teams.get(channel[1:], HOME_TEAM)
        return HOME_TEAM

    def add_channel(self, channel: str, *, team: str) -> None:
        """Make `channel` a channel of workspace `team` (only that team's token reaches it)."""
        self.channel_teams[channel] = team

    def add_user(self, user: str, name: str, *, team: str, **facts: Any) -> None:
        """A person of workspace `team` (users.info facts as `set_profile` takes them)."""
        self.user_teams[user] = team
        self.users[user] = name
        self.profiles.setdefault(user, {}).update(facts)

    # -- state changes -----------------------------------------------------------------------
    def _find(self, channel: str | None, ts: str | None) -> Message | None:
        if not channel or not ts:
            return None
        for message in self._channels.get(self._resolve(channel), []):
            if message.ts == ts and not message.deleted:
                return message
        return None

    def _post(
        self,
        channel: str,
        text: str,
        blocks: Any,
        thread_ts: str | None,
        broadcast: bool,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        message = Message(
            metadata=metadata,
            channel=channel,
            ts=self._next_ts(),
            text=text or "",
            blocks=list(blocks or []),
            thread_ts=thread_ts or None,
            reply_broadcast=broadcast,
        )
        self._channels.setdefault(channel, []).append(message)
        kind = "reply" if message.is_reply else "post"
        self._events.append({"kind": kind, "channel": channel, "text": message.text, "blocks": message.blocks})
        return message

    def _edit(self, message: Message, text: str, blocks: Any) -> None:
        message.edits.append(message.snapshot())
        message.text, message.blocks = text or "", list(blocks or [])
        self._events.append(
            {"kind": "update", "channel": message.channel, "text": message.text, "blocks": message.blocks}
        )

    def _store_view(
        self, user: str | None, view: dict[str, Any], verb: str, previous: str | None = None
    ) -> dict[str, Any]:
        view_id = f"V{next(self._ids):08d}"
        stored = {
            "type": "modal",
            **view,
            "id": view_id,
            "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
            "team_id": self._caller_team,
            "app_id": self.app_id,
            "bot_id": "BBOT",
            "state": {"values": {}},
            "root_view_id": view_id,
            "previous_view_id": previous,
        }
        self._views_by_id[view_id] = stored
        self._view_user[view_id] = user
        if stored.get("type") != "home":
            self._view_log.append((user, stored))
            title = render_content((stored.get("title") or {}).get("text", ""), None, self.users)
            self._events.append({"kind": "modal", "verb": verb, "user": user, "title": title})
        return stored

    # -- reading what reached Slack ----------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls to one method (failed ones included), in order."""
        return self.calls(method)

    def messages(self, channel: str, team: str | None = None) -> list[Message]:
        """Top-level messages in a channel (a user id means that user's DM, in `team`'s workspace), in order."""
        resolved = self._resolve(channel, team or self.user_teams.get(channel, HOME_TEAM))
        return [m for m in self._channels.get(resolved, []) if not m.is_reply and not m.deleted]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under `ts`, in order."""
        return [
            m
            for m in self._channels.get(self._resolve(channel), [])
            if m.is_reply and m.thread_ts == ts and not m.deleted
        ]

    def dms(self, user: str, team: str | None = None) -> list[Message]:
        """Every message in the bot's DM with `user` (in `team`'s workspace; default: the user's), in order."""
        resolved = self._resolve(user, team or self.user_teams.get(user, HOME_TEAM))
        return [m for m in self._channels.get(resolved, []) if not m.deleted]

    def all_messages(self) -> list[Message]:
        """Every live message in every channel."""
        return [m for msgs in self._channels.values() for m in msgs if not m.deleted]

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral replies (chat.postEphemeral and response_url), optionally only those for `user`."""
        return [e for e in self._ephemerals if user is None or e.get("user") == user]

    def views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Modals opened or pushed (latest content), optionally only for `user`; newest last."""
        return [v for u, v in self._view_log if user is None or u == user]

    def home(self, user: str) -> dict[str, Any] | None:
        """The last App Home view published for `user`."""
        return self._homes.get(user)

    def find_message(self, channel: str | None = None, contains: str = "") -> Message | None:
        """The newest message (optionally in `channel`) whose text or rendered blocks contain `contains`."""
        pool = self._channels.get(self._resolve(channel), []) if channel else self.all_messages()
        for message in reversed(pool):
            if not message.deleted and (
                contains in message.text
                or contains in json.dumps(message.blocks)
                or contains in message.rendered(self.users)
            ):
                return message
        return None

    def transcript(self) -> str:
        """What people would have seen, in time order (append-only between calls)."""
        return render_transcript(self._events, self.users)
