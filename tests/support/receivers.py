"""Hostile webhook receivers on 127.0.0.1: one that redirects, one that holds the request until the test
lets it go, one that streams an answer body without end; and a Trustbot that sends its events there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlmodel import col

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant
from trustbot.clock import FixedClock
from trustbot.services.context import system_context
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.standin.gateway import SECRET
from trustbot.storage.tables import OutboxMessage, OutboxOp

CHUNK = 16 * 1024
STREAM_LIMIT = 256 * 1024 * 1024  # a safety stop: the endless body ends here even if nobody closes


@dataclass
class Hit:
    """One request that reached a receiver."""

    method: str
    webhook_id: str


class Receiver:
    """A local HTTP receiver whose answer the test picks: `redirect`, `hold` or `stream` (else 200)."""

    def __init__(
        self,
        *,
        redirect: tuple[int, str] | None = None,
        hold: bool = False,
        stream: bool = False,
        declared_length: int | None = None,
    ) -> None:
        self.redirect, self.hold, self.stream, self.declared_length = redirect, hold, stream, declared_length
        self.hits: list[Hit] = []
        self.holding = asyncio.Event()  # a request is being held
        self.released = asyncio.Event()
        self.cut = asyncio.Event()  # the client closed the connection while the body streamed
        self.written = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where to send."""
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/hooks", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Let a held request go and stop listening."""
        self.released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.hits.append(Hit(request.method, request.headers.get("webhook-id", "")))
        if self.redirect is not None:
            status, location = self.redirect
            return web.Response(status=status, headers={"Location": location})
        if self.hold:
            self.holding.set()
            await self.released.wait()
        if self.stream:
            return await self._stream(request)
        return web.json_response({"ok": True})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        if self.declared_length is not None:
            response.content_length = self.declared_length
        await response.prepare(request)
        try:
            while self.written < STREAM_LIMIT:
                await response.write(b"x" * CHUNK)
                self.written += CHUNK
                await asyncio.sleep(0.005)  # ~3 MB/s: a client that reads it all gathers it slowly, not gigabytes
        except (ConnectionError, RuntimeError):
            self.cut.set()
        return response


@asynccontextmanager
async def receiver_bot(
    database_url: str, fake_slack: Any, clock: FixedClock, receiver: Receiver, **overrides: Any
) -> AsyncIterator[RunningBot]:
    """A running Trustbot whose `TRUSTBOT_WEBHOOK_URL` is `receiver`."""
    settings = {"TRUSTBOT_WEBHOOK_URL": receiver.url, "TRUSTBOT_WEBHOOK_SECRET": SECRET, **overrides}
    running = await start_bot(database_url, fake_slack, clock, **settings)
    try:
        yield running
    finally:
        await receiver.stop()
        await running.close()


async def queue_grant_event(bot: RunningBot, clock: FixedClock) -> None:
    """A grant suspended: one event queued for the gateway, and the worker told."""
    grant_id = await make_grant(bot.rt.db, clock)
    async with bot.rt.db.transaction() as session:
        await grant_changed(session, system_context(clock, bot.rt.settings), [grant_id], GrantEvent.SUSPENDED)


async def webhook_row(bot: RunningBot) -> OutboxMessage:
    """The one webhook row in the outbox."""
    async with bot.rt.db.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage).where(col(OutboxMessage.op) == OutboxOp.WEBHOOK))).all()
    return row


async def webhook_status(bot: RunningBot, status: str, *, timeout: float) -> bool:
    """Whether the webhook row reaches `status` within `timeout` seconds (polled every 50 ms)."""
    for _ in range(int(timeout / 0.05)):
        if (await webhook_row(bot)).status == status:
            return True
        await asyncio.sleep(0.05)
    return False
