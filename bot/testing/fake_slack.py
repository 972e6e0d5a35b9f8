"""A local HTTP server imitating the Slack Web API, response_urls and Socket Mode (aiohttp only).

Used by the tests, by `trustbot demo` and by the benchmarks: point slack_sdk's AsyncWebClient
at `fake.api_url`, then read back what "reached Slack" (`messages`, `replies`, `dms`, `views`,
`ephemerals`, `transcript()`), or program failures (`fail`, `hang`, `rate_limit_channels`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from bot.testing.fake_methods import METHODS
from bot.testing.fake_socket_mode import FakeSocketMode
from bot.testing.transcript import (
    Call,
    CallList,
    Message,
    render_content,
    render_transcript,
)

__all__ = ["Call", "FakeSlack", "Message"]

WRITES = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


@dataclass
class _Fault:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    times: int = 1
    channel: str | None = None
    hang: bool = False


class FakeSlack:
    """A real local Slack stand-in that records every call and can misbehave on demand."""

    def __init__(self, users: dict[str, str] | None = None, *, app_id: str = "A0APP") -> None:
        self.users: dict[str, str] = dict(users or {})
        self.app_id = app_id
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._stopped = asyncio.Event()
        self._release = asyncio.Event()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.socket_mode = FakeSocketMode(app_id)
        self._rate_limit: float | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Start serving on host:port (port 0 picks a free one)."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{token}", self._response)
        app.router.add_get("/socket", self.socket_mode.handle)
        self._stopped = asyncio.Event()
        self._release = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host
        return self

    async def stop(self) -> None:
        """Release hung calls, close sockets and stop serving."""
        self._stopped.set()
        self._release.set()
        await self.socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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

    def reset(self) -> None:
        """Forget every recording and every injected fault."""
        self.calls: CallList = CallList()
        self.hung_calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        self._ephemerals: list[dict[str, Any]] = []
        self._channels: dict[str, list[Message]] = {}
        self._view_log: list[tuple[str | None, dict[str, Any]]] = []
        self._views_by_id: dict[str, dict[str, Any]] = {}
        self._view_user: dict[str, str | None] = {}
        self._homes: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._last_write: dict[str, float] = {}
        self.reset_faults()
        self._triggers: dict[str, str] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}

    # -- programming failures ----------------------------------------------------------------
    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` (optionally only for `channel`) with a failure."""
        if status == 200 and not error:
            error = "internal_error"
        self._faults.append(_Fault(method, status, error, retry_after, times, channel))

    def hang(self, method: str, times: int = 1) -> None:
        """Never answer the next `times` calls to `method` (held until stop(); not delivered)."""
        self._faults.append(_Fault(method, times=times, hang=True))

    def reset_faults(self) -> None:
        """Drop every queued fault and the channel rate limit (recordings are kept)."""
        self._faults: list[_Fault] = []
        self._rate_limit = None

    def release(self) -> None:
        """Drop every queued fault and answer calls hung so far with 503."""
        self.reset_faults()
        self._release.set()
        self._release = asyncio.Event()

    def rate_limit_channels(self, per_second: float | None = 1.0) -> None:
        """Answer 429 to a write to a channel sooner than 1/per_second after its last one (None: off)."""
        self._rate_limit = per_second

    def _take_fault(self, method: str, channel: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and (fault.channel is None or fault.channel == channel):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- ids ---------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_trigger_id(self, user: str | None = None) -> str:
        """A trigger_id that views.open will attribute to `user`."""
        trigger = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(8)}"
        if user:
            self._triggers[trigger] = user
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

    def _resolve(self, channel: str) -> str:
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    # -- HTTP handlers -----------------------------------------------------------------------
    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for name in _JSON_FIELDS:
            value = args.get(name)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                try:
                    args[name] = json.loads(value)
                except ValueError:
                    pass
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        at = time.monotonic()
        args = await self._read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else str(args.pop("token", ""))
        args.pop("token", None)
        if not token.startswith(("xoxb-", "xoxp-", "xapp-")):
            return self._answer(method, args, at, {"ok": False, "error": "not_authed"})
        raw_channel = args.get("channel")
        channel = self._resolve(str(raw_channel)) if raw_channel else None
        fault = self._take_fault(method, channel)
        if fault is not None and fault.hang:
            self.hung_calls.append(Call(method, args, at, 0, False))
            release = self._release
            await release.wait()
            return web.Response(status=503, text="fake slack released a hung call")
        if fault is not None:
            if fault.status == 429:
                retry = fault.retry_after if fault.retry_after is not None else 1
                return self._answer(
                    method,
                    args,
                    at,
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(int(retry) if float(retry).is_integer() else retry)},
                )
            if fault.status >= 500:
                self.calls.append(Call(method, args, at, fault.status, False))
                return web.Response(status=fault.status, text=f"{fault.status} fake upstream error")
            return self._answer(method, args, at, {"ok": False, "error": fault.error}, status=fault.status)
        if method in WRITES and channel and self._rate_limit:
            last = self._last_write.get(channel)
            if last is not None and at - last < 1.0 / self._rate_limit:
                return self._answer(
                    method, args, at, {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
                )
        handler = METHODS.get(method)
        if handler is None:
            return self._answer(method, args, at, {"ok": False, "error": "unknown_method"})
        result = handler(self, args)
        if result.get("ok") and method in WRITES and channel:
            self._last_write[channel] = at
        return self._answer(method, args, at, result)

    def _answer(
        self,
        method: str,
        args: dict[str, Any],
        at: float,
        body: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self.calls.append(Call(method, args, at, status, bool(body.get("ok")) and status == 200))
        return web.json_response(body, status=status, headers=headers)

    async def _response(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            body = await request.json()
        except ValueError:
            body = dict(await request.post())
        known = self._response_urls.get(token, {})
        record = {
            "token": token,
            "body": body,
            "user": known.get("user"),
            "channel": known.get("channel"),
            "message_ts": known.get("message_ts"),
            "at": time.monotonic(),
        }
        self.responses.append(record)
        target = self._find(known.get("channel"), known.get("message_ts"))
        if body.get("delete_original") and target is not None:
            target.deleted = True
            self._events.append({"kind": "delete", "channel": target.channel})
        elif body.get("replace_original") and target is not None:
            self._edit(target, body.get("text", target.text), body.get("blocks", target.blocks))
        elif body.get("response_type") == "in_channel" and known.get("channel"):
            self._post(known["channel"], body.get("text", ""), body.get("blocks"), None, False)
        else:
            entry = {
                "user": known.get("user"),
                "channel": known.get("channel"),
                "text": body.get("text", ""),
                "blocks": body.get("blocks") or [],
                "source": "response_url",
            }
            self._ephemerals.append(entry)
            self._events.append({"kind": "ephemeral", **entry})
        return web.Response(text="ok")

    async def send_envelope(
        self, type_: str, payload: dict[str, Any], *, accepts_response_payload: bool = False, timeout: float = 5
    ) -> dict[str, Any]:
        """Send a Socket Mode envelope to the connected client; return its ack."""
        return await self.socket_mode.send_envelope(
            type_, payload, accepts_response_payload=accepts_response_payload, timeout=timeout
        )

    # -- state changes -----------------------------------------------------------------------
    def _find(self, channel: str | None, ts: str | None) -> Message | None:
        if not channel or not ts:
            return None
        for message in self._channels.get(self._resolve(channel), []):
            if message.ts == ts and not message.deleted:
                return message
        return None

    def _post(self, channel: str, text: str, blocks: Any, thread_ts: str | None, broadcast: bool) -> Message:
        message = Message(
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
            "team_id": "T0TEAM",
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

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages in a channel (a user id means that user's DM), in order."""
        return [m for m in self._channels.get(self._resolve(channel), []) if not m.is_reply and not m.deleted]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """Replies in the thread under `ts`, in order."""
        return [
            m
            for m in self._channels.get(self._resolve(channel), [])
            if m.is_reply and m.thread_ts == ts and not m.deleted
        ]

    def dms(self, user: str) -> list[Message]:
        """Every message in the bot's DM with `user`, top-level and replies, in order."""
        return [m for m in self._channels.get(self.dm_channel(user), []) if not m.deleted]

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
