"""The outbox worker: the only code that writes to Slack on its own.

Rows are delivered per *lane* (a channel, a user for DMs, an org's gateway events) strictly in id
order, so an update never overtakes the post it edits. Lanes progress independently: each lane's
send runs in its own task, and the lane goes on when it is answered, so a gateway that hangs or a
slow channel never holds another lane. In a lane several parties share (`share`: each org, in the
reps channel) the parties take turns (`trustbot.delivery.turns`), each party's rows in id order.
Each Slack lane is paced (`TRUSTBOT_CHANNEL_PACE_SECONDS`), a 429 holds the lane for its
`Retry-After` (in every replica), 5xx and timeouts back off exponentially, and `ok:false` errors
are classified (`trustbot.slack.errors`): retryable ones back off, final ones fail the row, which
is logged and handed to the failure handler that composition wires in (it audits the failure and
routes a refused channel's message elsewhere, so people still hear). Blocks Slack
refuses are replaced by the plain-text version of the message. What each outcome does to its row
lives in `trustbot.delivery.verdicts`; the call a row makes, in `trustbot.delivery.slack_writes`.

Rows are claimed with a conditional UPDATE and a lease, so two workers (processes or replicas)
never hold the same row. A post whose outcome is unknown — no answer, a dropped connection, a
worker that died holding it — stays *in doubt*: its next attempt first looks for it in Slack by
the metadata every post carries, and records it as sent when it is there (editing it first when
the row was re-rendered meanwhile, so it shows the newest render).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.delivery.slack_writes import (
    TRANSPORT_ERRORS,
    Outcome,
    backoff,
    call_for,
    classify,
    find_post,
    metadata_for,
    refresh_found_post,
    transport_failure,
)
from trustbot.delivery.turns import Turns, lane_of
from trustbot.delivery.verdicts import FailureHandler, Verdicts
from trustbot.delivery.webhooks import WebhookSender
from trustbot.delivery.workspaces import NoToken, WorkspaceClients
from trustbot.metrics import Metrics
from trustbot.slack.errors import BLOCK_ERRORS, DEAD_TOKEN_ERRORS
from trustbot.storage.database import Database
from trustbot.storage.queries import outbox as outbox_q
from trustbot.storage.tables import OutboxMessage, OutboxOp

log = logging.getLogger(__name__)

BATCH = 100
# What happens when Slack refuses a customer installation's token: (installation key, error); composition
# wires in the service that marks it broken and tells operators once.
BrokenHandler = Callable[[str, str], Awaitable[None]]


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
        on_failure: FailureHandler | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.pace_seconds = settings.channel_pace_seconds
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.message_limit_hold = settings.message_limit_hold_seconds
        self.poll_seconds = settings.outbox_poll_seconds
        self.metrics = metrics or Metrics()
        self.webhooks = WebhookSender(settings)
        self.worker_id = f"delivery-{uuid.uuid4().hex[:12]}"
        self._lane_ready: dict[str, float] = {}
        self.verdicts = Verdicts(
            db,
            clock,
            self.metrics,
            self.worker_id,
            max_attempts=settings.outbox_max_attempts,
            webhook_window=timedelta(hours=settings.webhook_retry_hours),
            on_failure=on_failure,
            lane_ready=self._lane_ready,
        )
        self.turns = Turns()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # Each lane sends one row at a time, in its own task: a slow lane never holds another, and
        # a gateway that hangs never takes the send slots Slack writes need.
        self._sending: dict[str, asyncio.Task[Outcome]] = {}
        self._claiming = asyncio.Lock()
        self._slots = {"slack": asyncio.Semaphore(concurrency), "webhook": asyncio.Semaphore(concurrency)}
        # Customer installations' clients and what to do when one's token is refused; set by composition
        # when installs are configured (None: every row is home's).
        self.workspaces: WorkspaceClients | None = None
        self.on_broken: BrokenHandler | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def wake(self) -> None:
        """Tell the worker new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Run the delivery loop in the background."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="trustbot-delivery")

    async def stop(self, *, grace: float = 15.0) -> None:
        """Stop the loop after the current pass; cancel it if that pass is still running after `grace` seconds."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        deadline = time.monotonic() + grace
        if task is not None:
            await asyncio.wait({task}, timeout=grace)  # it starts nothing new once stopping
            if not task.done():
                task.cancel()
        sending = set(self._sending.values())  # also sends started by `drain()` alone (`jobs run`)
        if sending:
            await asyncio.wait(sending, timeout=max(0.0, deadline - time.monotonic()))
        late = {t for t in sending if not t.done()} | ({task} if task is not None and not task.done() else set())
        if late:
            log.warning("delivery still sending after %gs: cancelling %d send(s)", grace, len(late))
            for leftover in late:
                leftover.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.webhooks.close()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before claiming: a wake during the claim is not lost
            try:
                await self._start_ready()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("delivery pass failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and a loop that ignores cancellation never lets its loop close.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle_wait()):
                    await self._wake.wait()

    def _idle_wait(self) -> float:
        now = time.monotonic()
        soonest = min((t - now for t in self._lane_ready.values() if t > now), default=self.poll_seconds)
        return max(0.005, min(self.poll_seconds, soonest))

    async def drain(self, *, timeout: float = 30.0) -> int:
        """Deliver until nothing is due within the timeout (waiting out pacing and short backoffs)."""
        deadline = time.monotonic() + timeout
        before = self.verdicts.sent
        while time.monotonic() < deadline:
            self._wake.clear()
            await self._start_ready()
            if not self._sending and not await self._has_pending(horizon=deadline - time.monotonic()):
                break
            # Woken by a send that finished (its lane may go on) or a commit; else at the next due lane.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(0.02, max(0.0, self._idle_wait()), deadline - time.monotonic())):
                    await self._wake.wait()
        return self.verdicts.sent - before

    async def _has_pending(self, *, horizon: float) -> bool:
        async with self.db.sessions() as session:
            return bool(await outbox_q.count_due(session, until=self.clock.now() + timedelta(seconds=max(horizon, 0))))

    # -- one pass --------------------------------------------------------------------------
    async def deliver_once(self) -> int:
        """Start the head row of every ready lane and wait for those sends; return how many were sent."""
        results = await asyncio.gather(*await self._start_ready())
        return sum(1 for r in results if r.kind == "sent")

    async def _start_ready(self) -> list[asyncio.Task[Outcome]]:
        """Claim the head row of every ready lane not already sending, and send each in its own task."""
        async with self._claiming:
            claimed = await self._claim_heads()
            started = []
            for row, prior in claimed:
                task = asyncio.create_task(self._send_guarded(row, prior), name=f"trustbot-deliver-{row.id}")
                self._sending[lane_of(row)] = task
                task.add_done_callback(functools.partial(self._finished, lane_of(row)))
                started.append(task)
            return started

    def _finished(self, lane: str, task: asyncio.Task[Outcome]) -> None:
        if self._sending.get(lane) is task:
            del self._sending[lane]
        if not task.cancelled() and (error := task.exception()) is not None:  # a verdict that could not be recorded
            log.error("delivery in lane %s failed: %r (the row is retried after its lease)", lane, error)
        self._wake.set()  # the lane may go on with its next row

    async def _claim_heads(self) -> list[tuple[OutboxMessage, datetime | None]]:
        """Claimed rows, each with when its earlier, unresolved attempt began (None: nothing in doubt)."""
        now = self.clock.now()
        mono = time.monotonic()
        async with self.db.transaction() as session:
            # Rows that depend on an earlier one (an edit or reply of a message not yet posted)
            # wait for it via `parent_not_posted`; a rate limit holds the whole lane by pushing
            # every row's `available_at`.
            heads = await outbox_q.lane_heads(session, now=now, limit=BATCH)
            ready = [
                row
                for row in self.turns.pick(heads)
                if lane_of(row) not in self._sending and self._lane_ready.get(lane_of(row), 0.0) <= mono
            ]
            ready = await self._supersede_stale_updates(session, ready, now)
            claimed: list[tuple[OutboxMessage, datetime | None]] = []
            for row in ready:
                prior = row.doubt_since
                # Only a post made twice shows twice: an edit or pin repeated changes nothing more, a
                # webhook resent carries the same webhook-id.
                posts = row.op not in (OutboxOp.UPDATE, OutboxOp.WEBHOOK, OutboxOp.PIN)
                if await outbox_q.claim(
                    session,
                    row_id=row.pk,
                    worker=self.worker_id,
                    now=now,
                    lease_until=now + self.lease,
                    posts=posts,
                ):
                    row.attempts += 1
                    row.doubt_since = prior or (now if posts else None)
                    claimed.append((row, prior))
                    self.turns.taken(row)
                    # Slack's pace is per channel; the gateway's lanes only keep their order.
                    self._lane_ready[lane_of(row)] = mono + (0.0 if row.op == OutboxOp.WEBHOOK else self.pace_seconds)
        return claimed

    async def _supersede_stale_updates(
        self, session: AsyncSession, rows: list[OutboxMessage], now: datetime
    ) -> list[OutboxMessage]:
        """Skip an edit when a newer edit of the same message is already queued: only the last state matters."""
        keys = [r.message_key for r in rows if r.op == OutboxOp.UPDATE and r.message_key]
        newest = await outbox_q.newest_pending_updates(session, keys=keys)
        stale = [
            r.pk for r in rows if r.op == OutboxOp.UPDATE and r.message_key and newest.get(r.message_key, 0) > r.pk
        ]
        await outbox_q.supersede(session, row_ids=stale, now=now)
        return [r for r in rows if r.pk not in set(stale)]

    async def _send_guarded(self, row: OutboxMessage, prior: datetime | None) -> Outcome:
        claimed_at = self.clock.now()
        async with self._slots["webhook" if row.op == OutboxOp.WEBHOOK else "slack"]:
            if not await self._still_mine(row, claimed_at):
                log.info("outbox row %s: its lease ran out while it waited to be sent; another worker has it", row.id)
                return Outcome("retry", error="lease_lost")
            try:
                outcome = await self._send(row, prior)
            except Exception as exc:  # never leave a claimed row without a verdict
                log.exception("unexpected error delivering outbox row %s", row.id)
                outcome = Outcome("retry", delay=backoff(row.attempts), error=type(exc).__name__, ambiguous=True)
            # The pace counts from Slack's answer, not from the claim: a write that waited for a slot
            # or a slow commit would otherwise reach Slack less than a pace after the one before it.
            if row.op != OutboxOp.WEBHOOK:  # Slack's pace is per channel; the gateway's lanes only keep their order
                ready = time.monotonic() + self.pace_seconds
                self._lane_ready[lane_of(row)] = max(self._lane_ready.get(lane_of(row), 0.0), ready)
            await self.verdicts.settle(row, outcome)
            return outcome

    async def _still_mine(self, row: OutboxMessage, claimed_at: datetime) -> bool:
        """Renew the lease of a row that waited long for a send slot; False when another worker took it meanwhile.

        A pass claims up to `BATCH` rows but sends `concurrency` at a time: behind a slow Slack a row
        can wait past its lease, and a replica that claims it then would post it a second time.
        """
        now = self.clock.now()
        if now - claimed_at < self.lease / 2:
            return True
        async with self.db.transaction() as session:
            return await outbox_q.renew_lease(
                session, row_id=row.pk, worker=self.worker_id, lease_until=now + self.lease
            )

    async def _send(self, row: OutboxMessage, prior: datetime | None) -> Outcome:
        if row.op == OutboxOp.WEBHOOK:
            return await self._send_webhook(row)
        call = await call_for(self.db, row)
        if isinstance(call, Outcome):
            return call
        method, args = call
        try:
            client = await self._client_of(row)
        except NoToken:
            return await self._held(row, prior, "token_missing")
        if client is None:  # its installation ended meanwhile: held with the rest of its rows
            return await self._held(row, prior, None)
        return await self._call(client, row, method, args, prior)

    async def _call(
        self, client: AsyncWebClient, row: OutboxMessage, method: str, args: dict[str, Any], prior: datetime | None
    ) -> Outcome:
        """Make the row's Web API call (after looking for an earlier attempt's post) and say what it means."""
        if method == "chat.postMessage":
            args.setdefault("unfurl_links", False)
            args["metadata"] = metadata_for(row)
            if prior is not None and (found := await self._look_for_post(client, row, args, prior)) is not None:
                return found
        try:
            response = await client.api_call(method, json=args)
        except SlackApiError as exc:
            outcome = classify(exc, row.attempts, message_limit_hold=self.message_limit_hold)
        except TRANSPORT_ERRORS as exc:
            outcome = transport_failure(exc, row.attempts)
        else:
            return Outcome("sent", ts=response.get("ts"), channel=response.get("channel"))
        if row.workspace and outcome.kind == "failed" and outcome.error in DEAD_TOKEN_ERRORS:
            if self.workspaces is not None and await self.workspaces.replaced(row.workspace, client):
                return Outcome("retry", error="token_replaced", ambiguous=prior is not None)
            return await self._held(row, prior, outcome.error)
        if outcome.kind == "retry":
            self.metrics.outbox_retried.labels(outcome.error or "unknown").inc()
        if outcome.kind == "failed" and outcome.error in BLOCK_ERRORS and row.payload.get("blocks"):
            return Outcome("retry", error="plain_text_fallback")
        return outcome

    async def _send_webhook(self, row: OutboxMessage) -> Outcome:
        outcome = await self.webhooks.send(row)
        if outcome.kind == "retry":
            self.metrics.outbox_retried.labels("webhook").inc()
        return outcome

    async def _look_for_post(
        self, client: AsyncWebClient, row: OutboxMessage, args: dict[str, Any], prior: datetime
    ) -> Outcome | None:
        """An earlier attempt's outcome is unknown: its post, when Slack has it (refreshed if stale), else None.

        `client` is the one that posts the row: a customer workspace's messages are only visible to its token.
        """
        found = await find_post(client, row, args, prior)
        self.metrics.outbox_lookups.labels("absent" if found is None else found.kind).inc()
        if found is None:
            return None
        return await refresh_found_post(client, row, found) if found.stale else found

    async def _client_of(self, row: OutboxMessage) -> AsyncWebClient | None:
        """The client a row is sent with: home's, or its workspace's (None: that installation is not active)."""
        if row.workspace is None:
            return self.client
        return await self.workspaces.client_for(row.workspace) if self.workspaces is not None else None

    async def _held(self, row: OutboxMessage, prior: datetime | None, error: str | None) -> Outcome:
        """The row's installation cannot send (ended, or Slack refused its token: `error`): hold it, uncounted.

        A refused token marks the installation broken (operators told once, by the handler), which holds
        every row of it until it is installed again. An earlier attempt's doubt is kept: this one sent nothing.
        """
        key = row.workspace or ""
        if self.workspaces is not None:
            self.workspaces.drop(key)
        if error is not None and self.on_broken is not None:
            await self.on_broken(key, error)
        log.warning("outbox row %s held: workspace %s cannot be reached (%s)", row.id, key, error or "not active")
        self.metrics.outbox_retried.labels("workspace_held").inc()
        return Outcome("retry", delay=self.poll_seconds, error="workspace_held", ambiguous=prior is not None)
