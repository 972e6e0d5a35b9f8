"""A stand-in for the provider's gateway: receives grant change webhooks on 127.0.0.1 and asks `/v1/*`.

It verifies every delivery with the `standardwebhooks` verifier (a bad signature is answered 401
and recorded as such), keeps each event once by its `webhook-id` (as a real receiver must: delivery
is at least once), and can answer 500 or hang for a while, to drill retries.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"trustbot-test-webhook-key-32byte").decode()
API_TOKEN = "test-api-token"


@dataclass
class Delivery:
    """One POST that reached the gateway."""

    webhook_id: str
    status: int
    body: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)


class FakeGateway:
    """A webhook receiver (verifying, deduplicating, optionally failing) and an entitlements client."""

    def __init__(self, secret: str = SECRET, api_token: str = API_TOKEN) -> None:
        self.verifier = Webhook(secret)
        self.api_token = api_token
        self.deliveries: list[Delivery] = []
        self.events: list[dict[str, Any]] = []  # each webhook-id once, in the order first received
        self.bad_signatures = 0
        self._seen: set[str] = set()
        self._fail_until = 0.0
        self._fail_count = 0
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port: int | None = None
        self.api_base = ""

    @property
    def url(self) -> str:
        """Where Trustbot sends its events (`TRUSTBOT_WEBHOOK_URL`)."""
        return f"http://127.0.0.1:{self.port}/hooks/trustbot"

    def fail_for(self, seconds: float) -> None:
        """Answer 500 to every delivery for the next `seconds`."""
        self._fail_until = time.monotonic() + seconds

    def fail_next(self, count: int) -> None:
        """Answer 500 to the next `count` deliveries."""
        self._fail_count = count

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        if self._fail_count > 0 or time.monotonic() < self._fail_until:
            self._fail_count = max(0, self._fail_count - 1)
            self.deliveries.append(Delivery(webhook_id, 500, None))
            return web.json_response({"error": "down"}, status=500)
        try:
            body = self.verifier.verify(raw, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            self.deliveries.append(Delivery(webhook_id, 401, None))
            return web.json_response({"error": "bad signature"}, status=401)
        self.deliveries.append(Delivery(webhook_id, 200, body))
        if webhook_id not in self._seen:
            self._seen.add(webhook_id)
            self.events.append(body)
        return web.json_response({"ok": True})

    def types(self) -> list[str]:
        """The `type` of each distinct event, in order."""
        return [str(e["type"]) for e in self.events]

    # -- asking Trustbot ---------------------------------------------------------------------
    async def ask(self, email: str) -> dict[str, Any]:
        """`GET /v1/entitlements?email=…` with the token; the JSON answer."""
        status, body = await self.get("/v1/entitlements", {"email": email})
        assert status == 200, (status, body)
        return body

    async def get(
        self, path: str, params: dict[str, str] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A GET on Trustbot's API (`token` None: the gateway's own token); (status, JSON)."""
        assert self._client is not None
        headers = {"Authorization": f"Bearer {self.api_token if token is None else token}"} if token != "" else {}
        async with self._client.get(self.api_base + path, params=params or {}, headers=headers) as response:
            return response.status, json.loads(await response.text() or "{}")

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, api_base: str = "") -> Self:
        """Listen on 127.0.0.1; `api_base` is Trustbot's base URL (set later with `self.api_base = …`)."""
        app = web.Application()
        app.router.add_post("/hooks/trustbot", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.api_base = api_base
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.sleep(0)
