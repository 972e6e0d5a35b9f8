"""Grant change webhooks under a failing gateway: the drill (short), and giving up after the retry window."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from bot.clock import FixedClock
from bot.testing.drill_webhooks import run_webhook_drill
from storage.queries.outbox import WEBHOOK
from storage.tables import AuditEvent, OutboxMessage, OutboxStatus
from tests.gateway_helpers import approve_latest, gateway_bot, submit_request


async def test_gateway_down_then_back_gets_every_event_once_in_order(database_url: str) -> None:
    tally = await run_webhook_drill(database_url, quick=True, outage=2.0)
    assert tally.queued > 0 and tally.kept == tally.queued, tally
    assert tally.refused_500 > 0  # the outage was real
    assert (tally.lost, tally.duplicated, tally.out_of_order, tally.bad_signatures) == (0, 0, 0, 0), tally
    assert tally.problems == []


async def test_an_event_never_taken_is_given_up_audited_and_operators_told(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock, TRUSTBOT_WEBHOOK_RETRY_HOURS=1 / 3600) as (bot, gateway):
        gateway.fail_for(60)
        await submit_request(bot)
        await approve_latest(bot)
        await asyncio.sleep(1.2)
        await bot.rt.delivery.drain(timeout=10)
        async with bot.rt.db.sessions() as session:
            [row] = (await session.scalars(select(OutboxMessage).where(OutboxMessage.op == WEBHOOK))).all()
            audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.undelivered"))).all()
        assert row.status == OutboxStatus.FAILED and row.attempts >= 2
        assert len(audit) == 1 and audit[0].details["type"] == "grant.activated"
        assert len({d.webhook_id for d in gateway.deliveries}) == 1  # the same webhook-id on every retry
        told = [m.text for m in bot.slack.dms("U0OPS1") if "never accepted" in m.text]
        assert len(told) == 1 and "grant.activated" in told[0] and "/v1/grants" in told[0]
