"""The outbox worker: the only code that writes to Slack on its own.

Rows are delivered per *lane* (a channel, or a user for DMs) strictly in id order, so an
update never overtakes the post it edits. Each lane is paced (`TRUSTBOT_CHANNEL_PACE_SECONDS`),
a 429 holds the lane for its `Retry-After`, 5xx and timeouts back off exponentially, and
`ok:false` errors are classified: retryable ones back off, permanent ones fail the row at
once, are logged and audited. Rows are claimed with a conditional UPDATE and a lease, so two
workers (threads, processes or replicas) never send the same row; a worker that dies
mid-send leaves a lease that expires and the row is retried.

Known limit: if a process dies after Slack accepted a message but before the row was marked
sent, the row is sent again when its lease expires — Slack's Web API has no idempotency key.
The window is the few milliseconds between Slack's answer and our commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics
from bot.services.audit import record_audit
from bot.services.context import system_context
from storage.database import Database
from storage.queries import outbox as outbox_q
from storage.queries.outbox import DM, POST, RATE_LIMIT_ERRORS, REPLY, UPDATE
from storage.tables import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# ok:false errors worth retrying; everything else is permanent for that row.
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "message_limit_exceeded",
        "team_added_to_org",
        "rate_limited",
    }
)
# A channel that hit Slack's per-channel message cap is held much longer than a plain 429.
SLOW_ERRORS = {"message_limit_exceeded": 60.0}
# Waiting is not failing: these retries never count toward TRUSTBOT_OUTBOX_MAX_ATTEMPTS, and they
# hold the whole lane, since Slack's limit is per channel.
RATE_LIMITS = frozenset(RATE_LIMIT_ERRORS)
UNCOUNTED = RATE_LIMITS | {"parent_not_posted"}
MAX_BACKOFF_SECONDS = 300.0
BATCH = 100


@dataclass(frozen=True)
class Outcome:
    """What happened to one send attempt."""

    kind: str  # sent | retry | failed | waiting
    ts: str | None = None
    channel: str | None = None
    delay: float = 0.0
    error: str | None = None


class DeliveryWorker:
    """Claims due outbox rows and sends them to Slack."""

    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        clock: Clock,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.ctx = system_context(clock, settings)
        self.pace_seconds = settings.channel_pace_seconds
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.max_attempts = settings.outbox_max_attempts
        self.poll_seconds = settings.outbox_poll_seconds
        self.metrics = metrics or Metrics()
        self.worker_id = f"delivery-{uuid.uuid4().hex[:12]}"
        self._lane_ready: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(concurrency)

    # -- lifecycle -------------------------------------------------------------------------
    def wake(self) -> None:
        """Tell the worker new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in the background."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="trustbot-delivery")

    async def stop(self) -> None:
        """Stop the loop after the current pass."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                sent = await self.deliver_once()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("delivery pass failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())
            except TimeoutError:
                pass

    def _idle_wait(self) -> float:
        now = time.monotonic()
        soonest = min((t - now for t in self._lane_ready.values() if t > now), default=self.poll_seconds)
        return max(0.005, min(self.poll_seconds, soonest))

    async def drain(self, *, timeout: float = 30.0) -> int:
        """Deliver until nothing is due (waiting out pacing and short backoffs); for CLI and tests."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            total += await self.deliver_once()
            if not await self._has_pending(horizon=deadline - time.monotonic()):
                return total
            await asyncio.sleep(min(0.02, max(0.0, self._idle_wait())))
        return total

    async def _has_pending(self, *, horizon: float) -> bool:
        async with self.db.sessions() as session:
            return bool(await outbox_q.count_due(session, until=self.clock.now() + timedelta(seconds=max(horizon, 0))))

    # -- one pass --------------------------------------------------------------------------
    async def deliver_once(self) -> int:
        """Claim the head row of every ready lane and send them concurrently; return how many were sent."""
        claimed = await self._claim_heads()
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send_guarded(row) for row in claimed))
        return sum(1 for r in results if r.kind == "sent")

    async def _claim_heads(self) -> list[OutboxMessage]:
        now = self.clock.now()
        mono = time.monotonic()
        async with self.db.transaction() as session:
            # Rows that depend on an earlier one (an edit or reply of a message not yet posted)
            # wait for it via `parent_not_posted`; a rate limit holds the whole lane by pushing
            # every row's `available_at`.
            heads = await outbox_q.lane_heads(session, now=now, limit=BATCH)
            self.metrics.outbox_pending.set(len(heads))
            ready = [
                row
                for row in heads
                if (row.lease_until is None or row.lease_until < now) and self._lane_ready.get(row.channel, 0.0) <= mono
            ]
            ready = await self._supersede_stale_updates(session, ready, now)
            claimed: list[OutboxMessage] = []
            for row in ready:
                if await outbox_q.claim(
                    session, row_id=row.id or 0, worker=self.worker_id, now=now, lease_until=now + self.lease
                ):
                    row.attempts += 1
                    claimed.append(row)
                    self._lane_ready[row.channel] = mono + self.pace_seconds
        return claimed

    async def _supersede_stale_updates(
        self, session: AsyncSession, rows: list[OutboxMessage], now: datetime
    ) -> list[OutboxMessage]:
        """Skip an edit when a newer edit of the same message is already queued: only the last state matters."""
        keys = [r.message_key for r in rows if r.op == UPDATE and r.message_key]
        newest = await outbox_q.newest_pending_updates(session, keys=keys)
        stale = [
            r.id or 0 for r in rows if r.op == UPDATE and r.message_key and newest.get(r.message_key, 0) > (r.id or 0)
        ]
        await outbox_q.supersede(session, row_ids=stale, now=now)
        return [r for r in rows if (r.id or 0) not in set(stale)]

    async def _send_guarded(self, row: OutboxMessage) -> Outcome:
        async with self._sem:
            try:
                outcome = await self._send(row)
            except Exception as exc:  # never leave a claimed row without a verdict
                log.exception("unexpected error delivering outbox row %s", row.id)
                outcome = Outcome("retry", delay=self._backoff(row.attempts), error=type(exc).__name__)
            await self._settle(row, outcome)
            return outcome

    async def _send(self, row: OutboxMessage) -> Outcome:
        payload = dict(row.payload)
        if row.op in (REPLY, UPDATE):
            target = await self._coordinates(row.message_key)
            if target is None:
                if await self._parent_failed(row.message_key):
                    return Outcome("failed", error="parent_message_failed")
                return Outcome("retry", delay=1.0, error="parent_not_posted")
            channel, ts = target
            if row.op == REPLY:
                method, args = "chat.postMessage", {"channel": channel, "thread_ts": ts, **payload}
            else:
                method, args = "chat.update", {"channel": channel, "ts": ts, **payload}
        elif row.op in (POST, DM):
            method, args = "chat.postMessage", {"channel": row.channel, **payload}
        else:
            return Outcome("failed", error=f"unknown_op:{row.op}")
        args.setdefault("unfurl_links", False) if method == "chat.postMessage" else None
        started = time.perf_counter()
        try:
            response = await self.client.api_call(method, json=args)
        except SlackApiError as exc:
            return self._classify(row, exc)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            self.metrics.outbox_retried.labels("transport").inc()
            return Outcome("retry", delay=self._backoff(row.attempts), error=type(exc).__name__)
        finally:
            self.metrics.slack_api_seconds.labels(method).observe(time.perf_counter() - started)
        return Outcome("sent", ts=response.get("ts"), channel=response.get("channel"))

    def _classify(self, row: OutboxMessage, exc: SlackApiError) -> Outcome:
        response = exc.response
        status = getattr(response, "status_code", 0)
        if status == 429:
            retry_after = _retry_after(response)
            self.metrics.outbox_retried.labels("ratelimited").inc()
            return Outcome("retry", delay=retry_after, error="ratelimited")
        if status >= 500:
            self.metrics.outbox_retried.labels("server_error").inc()
            return Outcome("retry", delay=self._backoff(row.attempts), error=f"http_{status}")
        error = response.get("error") if isinstance(response.data, dict) else None
        error = error or f"http_{status}"
        if error in RETRYABLE_ERRORS:
            self.metrics.outbox_retried.labels(error).inc()
            delay = max(SLOW_ERRORS.get(error, 0.0), _retry_after(response) if error == "ratelimited" else 0.0)
            return Outcome("retry", delay=delay or self._backoff(row.attempts), error=error)
        return Outcome("failed", error=error)

    def _backoff(self, attempts: int) -> float:
        base = min(MAX_BACKOFF_SECONDS, 0.5 * 2.0 ** max(attempts - 1, 0))
        return base * (0.8 + 0.4 * random.random())

    async def _coordinates(self, key: str | None) -> tuple[str, str] | None:
        if key is None:
            return None
        async with self.db.sessions() as session:
            return await outbox_q.coordinates(session, key=key)

    async def _parent_failed(self, key: str | None) -> bool:
        if key is None:
            return True
        async with self.db.sessions() as session:
            status = await outbox_q.first_post_status(session, key=key)
        return status in (OutboxStatus.FAILED, None)

    async def _settle(self, row: OutboxMessage, outcome: Outcome) -> None:
        now = self.clock.now()
        row_id, worker = row.id or 0, self.worker_id
        async with self.db.transaction() as session:
            if outcome.kind == "sent":
                await outbox_q.mark_sent(session, row_id=row_id, worker=worker, at=now)
                if row.save_as and outcome.ts:
                    channel = outcome.channel or row.channel
                    await outbox_q.save_coordinates(session, key=row.save_as, channel=channel, ts=outcome.ts)
                self.metrics.outbox_sent.labels(row.op).inc()
                return
            error = outcome.error or "unknown"
            if outcome.kind == "failed" or (row.attempts >= self.max_attempts and error not in UNCOUNTED):
                await outbox_q.mark_failed(session, row_id=row_id, worker=worker, error=error)
                log.error("gave up on outbox row %s (%s to %s): %s", row.id, row.op, row.channel, error)
                self.metrics.outbox_failed.labels(error).inc()
                details = {"op": row.op, "channel": row.channel, "error": error, "attempts": row.attempts}
                await record_audit(
                    session,
                    self.ctx,
                    action="delivery.failed",
                    subject=f"outbox:{row.id}",
                    details=details,
                )
                return
            # Retry: the lane waits; a 429's Retry-After applies to the whole lane.
            self._lane_ready[row.channel] = time.monotonic() + outcome.delay
            attempts = row.attempts - 1 if error in UNCOUNTED else row.attempts
            until = now + timedelta(seconds=outcome.delay)
            await outbox_q.reschedule(
                session, row_id=row_id, worker=worker, until=until, error=error, attempts=attempts
            )
            if error in RATE_LIMITS:  # every replica must hold this lane, not just this process
                await outbox_q.hold_lane(session, channel=row.channel, until=until)


def _retry_after(response: Any) -> float:
    headers = getattr(response, "headers", {}) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def build_slack_client(token: str, base_url: str, timeout: float) -> AsyncWebClient:
    """A Web API client with slack_sdk's own retries off: the outbox decides when to retry."""
    return AsyncWebClient(token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[])
