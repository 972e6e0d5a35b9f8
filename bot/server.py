"""Run Trustbot: HTTP server, Socket Mode connection, delivery worker and scheduler together."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import build_bolt_app, build_runtime, build_web_app
from bot.clock import Clock
from bot.config import Settings
from bot.runtime import Runtime
from storage.database import Database
from storage.migrate import upgrade

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)


class TrustbotServer:
    """One Trustbot process: start it, serve, stop it cleanly."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> None:
        self.settings = settings
        self.rt: Runtime = build_runtime(settings, clock=clock, db=db)
        self.bolt: AsyncApp = build_bolt_app(self.rt)
        self.web_app = build_web_app(self.rt, self.bolt)
        self._runner: web.AppRunner | None = None
        self._socket_handler: AsyncSocketModeHandler | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP listener."""
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.port}"

    async def start(self, *, migrate: bool = True, apply_directory: bool = True) -> None:
        """Migrate, apply the directory file, then start listening, delivering and scheduling."""
        if migrate:
            await upgrade(self.settings.database_url)
        if apply_directory and self.settings.directory:
            await self._apply_directory(Path(self.settings.directory))
        self._runner = web.AppRunner(self.web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.rt.delivery.start()
        if self.settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            token = self.settings.slack_app_token
            assert token is not None  # socket_mode means an app token is set
            handler = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
            await handler.connect_async()
            self._socket_handler = handler
        if self.settings.scheduler_enabled:
            from scheduler.setup import start_scheduler

            self._scheduler = await start_scheduler(self.rt)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # sweeps, which otherwise walk it on every full collection and stall the event loop.
        gc.collect()
        gc.freeze()
        log.info("trustbot listening on %s (%s mode)", self.url, "Socket" if self.settings.socket_mode else "HTTP")

    async def _apply_directory(self, path: Path) -> None:
        from bot.services.context import system_context
        from bot.services.directory.apply import apply_directory, format_apply_report, parse_directory

        directory = parse_directory(path.read_text())
        async with self.rt.db.transaction() as session:
            report = await apply_directory(session, system_context(self.rt.clock, self.settings), directory)
        log.info("directory %s applied: %s", path, format_apply_report(report).replace("\n", "; "))

    async def stop(self) -> None:
        """Stop everything started, in reverse order."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
        await self.rt.delivery.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.rt.db.dispose()

    async def run_until_signalled(self) -> None:
        """Start and serve until SIGINT/SIGTERM."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
