"""Grant change webhooks under a failing gateway: the drill (short), and giving up after the retry window."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.delivery_helpers import make_worker
from tests.support.drill_webhooks import run_webhook_drill
from tests.support.factories import make_grant
from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request
from trustbot.clock import FixedClock
from trustbot.services.context import system_context
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.standin.sample import OPERATOR
from trustbot.storage.tables import AuditEvent, OutboxMessage, OutboxOp, OutboxStatus


@pytest.mark.drill
async def test_gateway_down_then_back_gets_every_event_once_in_order(database_url: str) -> None:
    tally = await run_webhook_drill(database_url, quick=True, outage=2.0)
    assert tally.queued > 0 and tally.kept == tally.queued, tally
    assert tally.refused_500 > 0  # the outage was real
    assert (tally.lost, tally.duplicated, tally.out_of_order, tally.bad_signatures) == (0, 0, 0, 0), tally
    assert tally.problems == []


@pytest.mark.slow
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
            [row] = (await session.scalars(select(OutboxMessage).where(OutboxMessage.op == OutboxOp.WEBHOOK))).all()
            audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.undelivered"))).all()
        assert row.status == OutboxStatus.FAILED and row.attempts >= 2
        assert len(audit) == 1 and audit[0].details["type"] == "grant.activated"
        assert len({d.webhook_id for d in gateway.deliveries}) == 1  # the same webhook-id on every retry
        told = [m.text for m in bot.slack.dms(OPERATOR) if "never accepted" in m.text]
        assert len(told) == 1 and "grant.activated" in told[0] and "/v1/grants" in told[0]


async def test_an_orgs_events_are_not_held_to_slacks_per_channel_pace(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    # Suspending an org with many grants must reach the gateway in one pass, not one event per pace.
    async with gateway_bot(database_url, fake_slack, clock, TRUSTBOT_CHANNEL_PACE_SECONDS=2) as (bot, gateway):
        grant_ids = [await make_grant(bot.rt.db, clock) for _ in range(4)]
        async with bot.rt.db.transaction() as session:
            await grant_changed(session, system_context(clock, bot.rt.settings), grant_ids, GrantEvent.SUSPENDED)
        bot.rt.delivery.wake()
        await bot.rt.delivery.drain(timeout=10)
        delivered = [d for d in gateway.deliveries if d.status == 200]
        assert len(delivered) == 4
        assert delivered[-1].at - delivered[0].at < 1.5  # four events, well under one 2 s pace apart


async def test_stopping_a_worker_that_only_drained_closes_the_gateway_connections(db: Any, fake_slack: Any) -> None:
    """`jobs run` drains without starting the loop; its stop must still close the webhook sender's session."""
    import aiohttp

    worker = make_worker(db, fake_slack)
    session = aiohttp.ClientSession()
    worker.webhooks._session = session  # as after a drained webhook row
    await worker.stop()
    assert session.closed
