"""Run Trustbot: HTTP server, Socket Mode connection, delivery worker and scheduler together."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from trustbot.app import build_bolt_app, build_runtime, build_web_app
from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.handlers.http import build_metrics_app
from trustbot.runtime import Runtime
from trustbot.services.audit_anchor import prepare_audit_chain
from trustbot.services.context import system_context
from trustbot.slack.preflight import SlackUnavailable, identify, report_unpostable_channels
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade
from trustbot.web.listener import (
    ConnectionGuard,
    GuardedSite,
    body_deadline,
    sample_accept_errors,
    sample_malformed_requests,
    warn_if_over_file_limit,
)

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)
METRICS_MAX_CONNECTIONS = 16  # Prometheus holds one; a few more for people and a second scraper


class ListenError(Exception):
    """The HTTP listener cannot take `HOST`/`PORT` (an operator's setting, reported in one line)."""


class TrustbotServer:
    """One Trustbot process: start it, serve, stop it cleanly."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> None:
        self.settings = settings
        self.rt: Runtime = build_runtime(settings, clock=clock, db=db)
        self.bolt: AsyncApp = build_bolt_app(self.rt)
        self.web_app = build_web_app(self.rt, self.bolt)
        self.guard = ConnectionGuard(settings.http_max_connections, self.rt.metrics)
        self.rt.metrics.http_connections_open.set_function(lambda: len(self.guard))
        # Its own cap: a scrape still gets in while the public listener is full.
        self._metrics_guard = ConnectionGuard(METRICS_MAX_CONNECTIONS, self.rt.metrics)
        # Outermost: a connection is busy for the whole of a request, and a stalled body is a 408 whatever the route.
        self.web_app.middlewares.insert(0, body_deadline(settings.http_body_timeout_seconds, self.rt.metrics))
        self.web_app.middlewares.insert(0, self.guard.middleware())
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._undo_sampling: list[Callable[[], None]] = []
        self._socket_handler: AsyncSocketModeHandler | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self.port: int | None = None
        self._preflight: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL to reach the HTTP listener from this host (loopback when it listens on every address)."""
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.port}"

    @property
    def bind_addresses(self) -> list[str]:
        """Every address the listener is bound to, as `host:port` (what the log reports)."""
        if self._runner is None:
            return []
        return [f"[{a[0]}]:{a[1]}" if ":" in str(a[0]) else f"{a[0]}:{a[1]}" for a in self._runner.addresses]

    async def start(self, *, migrate: bool = True, apply_directory: bool = True) -> None:
        """Migrate, apply the directory file, then start listening, delivering and scheduling."""
        if migrate:
            await upgrade(self.settings.database_url)
        async with self.rt.db.transaction() as session:
            await prepare_audit_chain(session, system_context(self.rt.clock, self.settings))
        if apply_directory and self.settings.directory:
            await self._apply_directory(Path(self.settings.directory))
        self.rt.installation = await identify(self.rt.client)
        self._undo_sampling = [sample_accept_errors(asyncio.get_running_loop()), sample_malformed_requests()]
        warn_if_over_file_limit(self.settings.http_max_connections)
        self._runner = await self._listen(
            self.web_app, self.settings.host, self.settings.port, ("HOST", "PORT"), self.guard
        )
        self.port = self._runner.addresses[0][1]
        if self.settings.metrics_port is not None:
            self._metrics_runner = await self._listen(
                build_metrics_app(self.rt),
                self.settings.metrics_host,
                self.settings.metrics_port,
                ("TRUSTBOT_METRICS_HOST", "TRUSTBOT_METRICS_PORT"),
                self._metrics_guard,
            )
            self.metrics_port = self._metrics_runner.addresses[0][1]
        self.rt.delivery.start()
        if self.settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            token = self.settings.slack_app_token
            assert token is not None  # socket_mode means an app token is set
            handler = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
            try:
                await handler.connect_async()
            except SlackApiError as exc:
                raise SlackUnavailable(f"Slack refused SLACK_APP_TOKEN ({exc.response.get('error')})") from None
            self._socket_handler = handler
        if self.settings.scheduler_enabled:
            from trustbot.scheduler.setup import start_scheduler

            self._scheduler = await start_scheduler(self.rt)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # sweeps, which otherwise walk it on every full collection and stall the event loop.
        # No gc.collect() first: at this point it frees nothing and costs ~80 ms of start-up.
        gc.freeze()
        log.info(
            "trustbot listening on %s (%s mode)",
            ", ".join(f"http://{address}" for address in self.bind_addresses),
            "Socket" if self.settings.socket_mode else "HTTP",
        )
        self._preflight = asyncio.create_task(
            report_unpostable_channels(self.rt.db, self.rt.people_client, also=[self.settings.audit_channel])
        )

    async def _listen(
        self, app: web.Application, host: str, port: int, names: tuple[str, str], guard: ConnectionGuard
    ) -> web.AppRunner:
        """Serve `app` on `host:port` behind the guard; the header deadline is aiohttp's keep-alive timer."""
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.settings.http_header_timeout_seconds)
        await runner.setup()
        try:
            await GuardedSite(runner, host, port, guard).start()
        except OSError as exc:  # a HOST that names no local address, a PORT in use or not ours to take
            await runner.cleanup()
            raise ListenError(f"cannot listen on {names[0]} {host} {names[1]} {port}: {exc.strerror or exc}") from None
        return runner

    async def preflight_finished(self) -> None:
        """Wait until the start-up channel check has reported (tests count Slack calls after it)."""
        if self._preflight is not None:
            await asyncio.wait([self._preflight])

    async def _apply_directory(self, path: Path) -> None:
        from trustbot.services.directory.apply import apply_directory, format_apply_report, parse_directory
        from trustbot.services.errors import DirectoryError

        try:
            text = path.read_text()
        except OSError as exc:
            raise DirectoryError(f"cannot read the file: {exc.strerror or exc}") from None
        directory = parse_directory(text)
        async with self.rt.db.transaction() as session:
            report = await apply_directory(session, system_context(self.rt.clock, self.settings), directory)
        log.info("directory %s applied: %s", path, format_apply_report(report).replace("\n", "; "))

    async def stop(self) -> None:
        """Stop everything started, in reverse order, at once (tests; a second signal)."""
        self.rt.draining = True
        if self._preflight is not None:
            self._preflight.cancel()
            await asyncio.wait([self._preflight], timeout=5)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
            self._socket_handler = None
        # Whatever still runs is cancelled and awaited while the database is open: a task cancelled
        # in the middle of a query needs its connection to clean up, or it never ends.
        await self.rt.running_jobs.cancel_all()
        await self.rt.post_ack.cancel_all()
        await self.rt.delivery.stop()
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._metrics_runner = None
        while self._undo_sampling:
            self._undo_sampling.pop()()
        await self.rt.db.dispose()

    async def shutdown(self) -> None:
        """Stop gracefully: refuse new work, finish what was started, deliver what is due, then stop.

        New Slack requests and ingest answer 503 at once (Slack retries an event elsewhere; producers
        resend), the scheduler starts no new run, Socket Mode takes no new envelope. Work already
        acknowledged finishes, and due outbox rows are delivered, for up to TRUSTBOT_SHUTDOWN_SECONDS.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_seconds
        log.info("shutdown started: finishing work in flight for up to %gs", self.settings.shutdown_seconds)
        self.rt.draining = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
            self._socket_handler = None
        finished = await self.rt.post_ack.wait(timeout=max(0.0, deadline - loop.time()))
        await self.rt.running_jobs.wait(timeout=max(0.0, deadline - loop.time()))
        delivered = await self.rt.delivery.drain(timeout=max(0.0, deadline - loop.time()))
        unfinished = len(self.rt.post_ack)
        await self.stop()
        log.info(
            "shutdown finished: %s; %d Slack writes delivered while stopping",
            "all work in flight finished" if finished else f"{unfinished} listener(s) still running were dropped",
            delivered,
        )

    async def run_until_signalled(self) -> None:
        """Start and serve until SIGINT/SIGTERM, then shut down gracefully (a second signal stops at once)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        stop.clear()
        graceful = asyncio.create_task(self.shutdown())
        interrupted = asyncio.create_task(stop.wait())
        await asyncio.wait([graceful, interrupted], return_when=asyncio.FIRST_COMPLETED)
        if not graceful.done():
            log.warning("second signal: stopping now")
            graceful.cancel()
            await self.stop()
        interrupted.cancel()
