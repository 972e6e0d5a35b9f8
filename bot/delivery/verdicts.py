"""What an attempt's outcome does to its outbox row: sent (its coordinates saved for later edits and
replies), given up (logged, counted and handed to the failure handler composition wires in), or
rescheduled, with the lane held until then (a 429's Retry-After in every replica)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock
from trustbot.delivery.slack_writes import Outcome
from trustbot.delivery.turns import lane_of
from trustbot.metrics import Metrics
from trustbot.slack.errors import RATE_LIMIT_ERRORS
from trustbot.storage.database import Database
from trustbot.storage.queries import outbox as outbox_q
from trustbot.storage.tables import OutboxMessage, OutboxOp

log = logging.getLogger(__name__)

# Waiting is not failing: these retries never count toward TRUSTBOT_OUTBOX_MAX_ATTEMPTS, and rate
# limits hold the whole lane, since Slack's limit is per channel.
UNCOUNTED = RATE_LIMIT_ERRORS | {"parent_not_posted", "plain_text_fallback", "workspace_held", "token_replaced"}
# What happens when a row is given up: (session, row, error), in the transaction that fails it.
FailureHandler = Callable[[AsyncSession, OutboxMessage, str], Awaitable[None]]


class Verdicts:
    """Records each attempt's outcome on its row, in its own transaction; `sent` counts rows delivered."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        worker_id: str,
        *,
        max_attempts: int,
        webhook_window: timedelta,
        on_failure: FailureHandler | None,
        lane_ready: dict[str, float],
    ) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.webhook_window = webhook_window
        self.on_failure = on_failure
        self.lane_ready = lane_ready  # the worker's: when each lane may send again (monotonic seconds)
        self.sent = 0

    async def settle(self, row: OutboxMessage, outcome: Outcome) -> None:
        """Record `outcome` on `row`: sent, given up, or rescheduled."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            if outcome.kind == "sent":
                self.sent += 1
                await outbox_q.mark_sent(session, row_id=row.pk, worker=self.worker_id, at=now)
                if row.save_as and outcome.ts:
                    channel = outcome.channel or row.channel
                    await outbox_q.save_coordinates(session, key=row.save_as, channel=channel, ts=outcome.ts)
                self.metrics.outbox_sent.labels(row.op).inc()
            elif outcome.kind == "failed" or self._exhausted(row, outcome, now):
                await self._give_up(session, row, outcome.error or "unknown")
            else:
                await self._retry(session, row, outcome, now)

    def _exhausted(self, row: OutboxMessage, outcome: Outcome, now: datetime) -> bool:
        """Out of retries: a gateway event after its retry window, a Slack write after its attempts."""
        if row.op == OutboxOp.WEBHOOK:
            return now - row.created_at >= self.webhook_window
        return row.attempts >= self.max_attempts and (outcome.error or "") not in UNCOUNTED

    async def _give_up(self, session: AsyncSession, row: OutboxMessage, error: str) -> None:
        await outbox_q.mark_failed(session, row_id=row.pk, worker=self.worker_id, error=error)
        log.error("gave up on outbox row %s (%s to %s): %s", row.id, row.op, row.channel, error)
        self.metrics.outbox_failed.labels(error).inc()
        if self.on_failure is not None:
            await self.on_failure(session, row, error)

    async def _retry(self, session: AsyncSession, row: OutboxMessage, outcome: Outcome, now: datetime) -> None:
        """The lane waits; a 429's Retry-After applies to the whole lane, in every replica."""
        error = outcome.error or "unknown"
        if error == "plain_text_fallback":
            log.warning("Slack refused the blocks of outbox row %s; sending its plain-text version", row.id)
            plain: dict[str, Any] = {"text": row.payload.get("text") or "(no text)"}
            if row.op == OutboxOp.UPDATE:
                plain["blocks"] = []  # an edit without blocks would keep the old ones
            await outbox_q.rewrite_payloads(session, payloads={row.pk: plain})
        self.lane_ready[lane_of(row)] = time.monotonic() + outcome.delay
        until = now + timedelta(seconds=outcome.delay)
        await outbox_q.reschedule(
            session,
            row_id=row.pk,
            worker=self.worker_id,
            until=until,
            error=error,
            attempts=row.attempts - 1 if error in UNCOUNTED else row.attempts,
            doubt_since=row.doubt_since if outcome.ambiguous else None,
        )
        if error in RATE_LIMIT_ERRORS:
            await outbox_q.hold_lane(session, channel=row.channel, workspace=row.workspace, until=until)
