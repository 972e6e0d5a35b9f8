"""The outbox worker: the only code that writes to Slack on its own (DESIGN §6).

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
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.clock import Clock
from bot.metrics import Metrics
from bot.services.audit import record_audit
from bot.services.outbox import DM, POST, REPLY, UPDATE
from storage.database import Database
from storage.tables import OutboxMessage, OutboxStatus, SlackMessage

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
RATE_LIMITS = frozenset({"ratelimited", "rate_limited", "message_limit_exceeded"})
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
        *,
        pace_seconds: float = 1.0,
        lease_seconds: float = 30.0,
        max_attempts: int = 12,
        poll_seconds: float = 1.0,
        metrics: Metrics | None = None,
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.pace_seconds = pace_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
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
        limit = self.clock.now() + timedelta(seconds=max(horizon, 0))
        async with self.db.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= limit)
            )
        return bool(count)

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
            # The head of a lane is its oldest *due* row: a debounced edit waiting for its time
            # must not hold up other messages in the channel. Rows that depend on an earlier one
            # (an edit or reply of a message not yet posted) wait for it via `parent_not_posted`,
            # and a rate limit holds the whole lane by pushing every row's `available_at`.
            heads_q = (
                select(func.min(OutboxMessage.id))
                .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= now)
                .group_by(OutboxMessage.channel)
            )
            query = select(OutboxMessage).where(OutboxMessage.id.in_(heads_q)).order_by(OutboxMessage.id).limit(BATCH)
            if self.db.dialect == "postgresql":
                # Another replica claiming the same heads right now is skipped, not waited for.
                query = query.with_for_update(skip_locked=True)
            heads = (await session.scalars(query)).all()
            if self.metrics:
                self.metrics.outbox_pending.set(len(heads))
            ready = [
                row
                for row in heads
                if row.available_at <= now
                and (row.lease_until is None or row.lease_until < now)
                and self._lane_ready.get(row.channel, 0.0) <= mono
            ]
            ready = await self._supersede_stale_updates(session, ready)
            claimed: list[OutboxMessage] = []
            for row in ready:
                result = await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == row.id,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
                    )
                    .values(
                        claimed_by=self.worker_id, lease_until=now + self.lease, attempts=OutboxMessage.attempts + 1
                    )
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    row.attempts += 1
                    claimed.append(row)
                    self._lane_ready[row.channel] = mono + self.pace_seconds
        return claimed

    async def _supersede_stale_updates(self, session: Any, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """Skip an edit when a newer edit of the same message is already queued: only the last state matters."""
        keys = [r.message_key for r in rows if r.op == UPDATE and r.message_key]
        if not keys:
            return rows
        newest = dict(
            (
                await session.execute(
                    select(OutboxMessage.message_key, func.max(OutboxMessage.id))
                    .where(
                        OutboxMessage.op == UPDATE,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.message_key.in_(keys),
                    )
                    .group_by(OutboxMessage.message_key)
                )
            ).all()
        )
        keep: list[OutboxMessage] = []
        stale: list[int] = []
        for row in rows:
            if row.op == UPDATE and newest.get(row.message_key, row.id) > (row.id or 0):
                stale.append(row.id)  # type: ignore[arg-type]
            else:
                keep.append(row)
        if stale:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(stale),
                    OutboxMessage.status == OutboxStatus.PENDING,
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < self.clock.now()),
                )
                .values(status=OutboxStatus.SUPERSEDED)
            )
        return keep

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
        base = min(MAX_BACKOFF_SECONDS, 0.5 * (2 ** max(attempts - 1, 0)))
        return base * (0.8 + 0.4 * random.random())

    async def _coordinates(self, key: str | None) -> tuple[str, str] | None:
        if key is None:
            return None
        async with self.db.sessions() as session:
            message = await session.get(SlackMessage, key)
        return (message.channel, message.ts) if message else None

    async def _parent_failed(self, key: str | None) -> bool:
        async with self.db.sessions() as session:
            status = await session.scalar(
                select(OutboxMessage.status).where(OutboxMessage.save_as == key).order_by(OutboxMessage.id).limit(1)
            )
        return status in (OutboxStatus.FAILED, None)

    async def _settle(self, row: OutboxMessage, outcome: Outcome) -> None:
        now = self.clock.now()
        mine = and_(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.worker_id)
        async with self.db.transaction() as session:
            if outcome.kind == "sent":
                await session.execute(
                    update(OutboxMessage)
                    .where(mine)
                    .values(status=OutboxStatus.SENT, sent_at=now, lease_until=None, last_error=None)
                )
                if row.save_as and outcome.ts:
                    await _save_coordinates(
                        session, key=row.save_as, channel=outcome.channel or row.channel, ts=outcome.ts
                    )
                self.metrics.outbox_sent.labels(row.op).inc()
                return
            give_up = outcome.kind == "failed" or (row.attempts >= self.max_attempts and outcome.error not in UNCOUNTED)
            if give_up:
                await session.execute(
                    update(OutboxMessage)
                    .where(mine)
                    .values(status=OutboxStatus.FAILED, lease_until=None, last_error=(outcome.error or "")[:500])
                )
                log.error("gave up on outbox row %s (%s to %s): %s", row.id, row.op, row.channel, outcome.error)
                self.metrics.outbox_failed.labels(outcome.error or "unknown").inc()
                await record_audit(
                    session,
                    self.clock,
                    actor="trustbot",
                    action="delivery.failed",
                    subject=f"outbox:{row.id}",
                    details={"op": row.op, "channel": row.channel, "error": outcome.error, "attempts": row.attempts},
                )
                return
            # Retry: the lane waits; a 429's Retry-After applies to the whole lane.
            self._lane_ready[row.channel] = time.monotonic() + outcome.delay
            attempts = row.attempts - 1 if outcome.error in UNCOUNTED else row.attempts
            until = now + timedelta(seconds=outcome.delay)
            await session.execute(
                update(OutboxMessage)
                .where(mine)
                .values(
                    available_at=until,
                    lease_until=None,
                    last_error=(outcome.error or "")[:500],
                    attempts=attempts,
                )
            )
            if outcome.error in RATE_LIMITS:  # every replica must hold this lane, not just this process
                await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.channel == row.channel,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.available_at < until,
                    )
                    .values(available_at=until)
                    .execution_options(synchronize_session=False)
                )


async def _save_coordinates(session: Any, *, key: str, channel: str, ts: str) -> None:
    dialect = session.bind.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(SlackMessage).values(key=key, channel=channel, ts=ts)
    await session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"channel": channel, "ts": ts}))


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
