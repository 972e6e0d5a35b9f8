"""A local HTTP server imitating the Slack Web API, response_urls and Socket Mode (aiohttp only).

Used by the tests, by `trustbot demo` and by the benchmarks: point slack_sdk's AsyncWebClient
at `fake.api_url`, then read back what "reached Slack" (`messages`, `replies`, `dms`, `views`,
`ephemerals`, `transcript()`), or program failures (`fail`, `hang`, `rate_limit_channels`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any, Self

from aiohttp import web

from trustbot.standin.block_kit_limits import message_problems, view_problems
from trustbot.standin.fake_controls import FaultControls
from trustbot.standin.fake_faults import WRITES, Fault, Faults
from trustbot.standin.fake_methods import METHODS
from trustbot.standin.fake_socket_mode import FakeSocketMode
from trustbot.standin.fake_state import HOME_TEAM, SlackState
from trustbot.standin.fake_workspaces import FakeWorkspaces
from trustbot.standin.sample import EMAILS
from trustbot.standin.transcript import (
    Call,
    CallList,
    Message,
)

__all__ = ["Call", "FakeSlack", "Message"]

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


class FakeSlack(FaultControls, SlackState):
    """A real local Slack stand-in that records every call and can misbehave on demand."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        app_id: str = "A0APP",
        profiles: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.users: dict[str, str] = dict(users or {})
        # users.info's profile facts per user (`email`, `deleted`, `is_bot`); the sample people get
        # their sample emails unless `profiles` says otherwise.
        self.profiles: dict[str, dict[str, Any]] = (
            {u: {"email": EMAILS[u]} for u in self.users if u in EMAILS} if profiles is None else dict(profiles)
        )
        self.app_id = app_id
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._stopped = asyncio.Event()
        self._release = asyncio.Event()
        self._last_ts = 0
        self._ids = itertools.count(1)
        self.socket_mode = FakeSocketMode(app_id)
        self.workspaces = FakeWorkspaces(app_id)  # customer workspaces that can install the app (OAuth)
        self.channel_teams: dict[str, str] = {}  # channels of customer workspaces (the rest are home's)
        self.user_teams: dict[str, str] = {}  # people of customer workspaces (the rest are home's)
        self._caller_team = HOME_TEAM
        self.faults = Faults()
        self.reset()

    def set_profile(self, user: str, name: str | None = None, **facts: Any) -> None:
        """Change what users.info shows for `user` (`email=`, `deleted=`, `is_bot=`); adds them if new."""
        if name is not None or user not in self.users:
            self.users[user] = name or user
        self.profiles.setdefault(user, {}).update(facts)

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
        self.rejected: list[tuple[str, list[str]]] = []  # (method, problems) of payloads refused as invalid
        self.response_delay = 0.0  # seconds before a response_url post is taken (and recorded)
        self.not_member: set[str] = set()  # channels the bot is not in (conversations.info says so)
        self.archived: set[str] = set()
        self.reset_faults()
        self._triggers: dict[str, tuple[str | None, str]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}

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
                with contextlib.suppress(ValueError):
                    args[name] = json.loads(value)
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        at = time.monotonic()
        args = await self._read_args(request)
        auth = request.headers.get("Authorization", "")
        if method == "oauth.v2.access":  # authenticated by the app's client id and secret, not a token
            return self._answer(method, args, at, self.workspaces.exchange(args, auth))
        token = auth[7:] if auth.startswith("Bearer ") else str(args.pop("token", ""))
        args.pop("token", None)
        if not token.startswith(("xoxb-", "xoxp-", "xapp-")):
            return self._answer(method, args, at, {"ok": False, "error": "not_authed"})
        if token in self.workspaces.revoked:
            return self._answer(method, args, at, {"ok": False, "error": "invalid_auth"})
        if method == "auth.test" and (customer := self.workspaces.auth_test(token, self.base_url)) is not None:
            return self._answer(method, args, at, customer)
        try:
            self._caller_team = self.workspaces.team_of(token) or HOME_TEAM
            return await self._call(request, method, args, at)
        finally:
            self._caller_team = HOME_TEAM

    async def _call(self, request: web.Request, method: str, args: dict[str, Any], at: float) -> web.StreamResponse:
        """A call made with a valid token, as the workspace of that token (`_caller_team`)."""
        if self.faults.down:
            self.calls.append(Call(method, args, at, 503, False))
            return web.Response(status=503, text="fake slack is down")
        raw_channel = args.get("channel")
        channel = self._resolve(str(raw_channel)) if raw_channel else None
        fault = self.faults.take(method, channel)
        if fault is not None and not fault.after:
            return await self._refuse(method, args, at, fault)
        refusal = self._foreign(channel) or self._refusal(method, args, channel, at)
        if refusal is not None:
            limited = refusal["error"] == "ratelimited"
            headers = {"Retry-After": "1"} if limited else None
            return self._answer(method, args, at, refusal, status=429 if limited else 200, headers=headers)
        handler = METHODS.get(method)
        if handler is None:
            return self._answer(method, args, at, {"ok": False, "error": "unknown_method"})
        result = handler(self, args)
        if result.get("ok") and method in WRITES and channel:
            self._last_write[channel] = at
        if fault is not None:
            return await self._answer_badly(request, method, args, at, result, fault)
        return self._answer(method, args, at, result)

    async def _refuse(self, method: str, args: dict[str, Any], at: float, fault: Fault) -> web.StreamResponse:
        """Slack refused the call: nothing happened."""
        if fault.hang:
            self.hung_calls.append(Call(method, args, at, 0, False))
            await self._release.wait()
            return web.Response(status=503, text="fake slack released a hung call")
        if fault.status == 429:
            retry = fault.retry_after if fault.retry_after is not None else 1
            header = str(int(retry) if float(retry).is_integer() else retry)
            body = {"ok": False, "error": "ratelimited"}
            return self._answer(method, args, at, body, status=429, headers={"Retry-After": header})
        if fault.status >= 500:
            self.calls.append(Call(method, args, at, fault.status, False))
            return web.Response(status=fault.status, text=f"{fault.status} fake upstream error")
        return self._answer(method, args, at, {"ok": False, "error": fault.error}, status=fault.status)

    async def _answer_badly(
        self, request: web.Request, method: str, args: dict[str, Any], at: float, result: dict[str, Any], fault: Fault
    ) -> web.StreamResponse:
        """Slack carried the call out; the caller hears late, never, or loses the connection."""
        self.calls.append(Call(method, args, at, 200, bool(result.get("ok")), carried_out=True))
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=200, text="")
        if fault.never:
            self.hung_calls.append(self.calls[-1])
            await self._release.wait()
        elif fault.late is not None:
            # Answered late, or at once when the fake stops (no caller is left to hear it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), fault.late)
        return web.json_response(result)

    def _foreign(self, channel: str | None) -> dict[str, Any] | None:
        """A channel (or DM) of another workspace than the token's: Slack does not show it to that token."""
        if channel and self.team_of_channel(channel) != self._caller_team:
            return {"ok": False, "error": "channel_not_found"}
        return None

    def _refusal(self, method: str, args: dict[str, Any], channel: str | None, at: float) -> dict[str, Any] | None:
        """What Slack itself would refuse: a rate limit, a channel the bot cannot post in, an invalid payload."""
        per_second = self.faults.rate_limit
        if method in WRITES and channel and per_second:
            last = self._last_write.get(channel)
            if last is not None and at - last < 1.0 / per_second:
                return {"ok": False, "error": "ratelimited"}
        if method == "chat.postMessage" and channel in self.faults.refused:
            return {"ok": False, "error": self.faults.refused[channel]}
        problems = self._payload_problems(method, args)
        if problems:
            self.rejected.append((method, problems))
            error = "invalid_arguments" if method.startswith("views.") else "invalid_blocks"
            return {"ok": False, "error": error, "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}
        return None

    @staticmethod
    def _payload_problems(method: str, args: dict[str, Any]) -> list[str]:
        """Block Kit limits Slack enforces on what this call would show."""
        if method in WRITES and ("blocks" in args or "text" in args):
            blocks = args.get("blocks")
            return message_problems(blocks if isinstance(blocks, list) else None, args.get("text"))
        if method in ("views.open", "views.push", "views.update", "views.publish") and isinstance(
            args.get("view"), dict
        ):
            view = args["view"] if method != "views.publish" else {**args["view"], "type": "home"}
            return view_problems(view)
        return []

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
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        try:
            body = await request.json()
        except ValueError:
            body = dict(await request.post())
        known = self._response_urls.get(token, {})
        problems = message_problems(body.get("blocks"), body.get("text")) if isinstance(body, dict) else []
        if problems:
            self.rejected.append(("response_url", problems))
            return web.json_response({"ok": False, "error": "invalid_blocks"}, status=400)
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
