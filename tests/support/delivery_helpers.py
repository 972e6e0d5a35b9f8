"""Shared by the delivery test modules: a delivery worker on the fake Slack, writes queued straight
into the outbox, and the outbox read back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from tests.support.bots import make_settings
from trustbot.app import undelivered_handler
from trustbot.clock import SystemClock
from trustbot.delivery.worker import DeliveryWorker
from trustbot.metrics import Metrics
from trustbot.services import outbox
from trustbot.slack.client import build_slack_client
from trustbot.standin.fake_slack import FakeSlack
from trustbot.storage.database import Database
from trustbot.storage.tables import OutboxMessage

# make_worker's keyword arguments, and the settings they stand for.
_TUNING = {
    "pace_seconds": "TRUSTBOT_CHANNEL_PACE_SECONDS",
    "lease_seconds": "TRUSTBOT_OUTBOX_LEASE_SECONDS",
    "max_attempts": "TRUSTBOT_OUTBOX_MAX_ATTEMPTS",
}


def make_worker(
    db: Database, fake_slack: FakeSlack, *, timeout: float = 5.0, metrics: Metrics | None = None, **tuning: Any
) -> DeliveryWorker:
    """A delivery worker (not started) on `db` and the fake Slack: no pacing and 5 s leases unless tuned."""
    overrides: dict[str, Any] = {"TRUSTBOT_CHANNEL_PACE_SECONDS": 0, "TRUSTBOT_OUTBOX_LEASE_SECONDS": 5}
    overrides.update({_TUNING[name]: value for name, value in tuning.items()})
    settings = make_settings(db.url, fake_slack.api_url, **overrides)
    client = build_slack_client("xoxb-test", fake_slack.api_url, timeout)
    return DeliveryWorker(
        db, client, SystemClock(), settings, metrics=metrics, on_failure=undelivered_handler(settings)
    )


async def queue(db: Database, *writes: tuple[str, dict[str, Any]]) -> None:
    """Queue Slack writes in one transaction: each is an `outbox` function's name and its arguments."""
    async with db.transaction() as session:
        for op, args in writes:
            getattr(outbox, op)(session, **args)


async def rows(db: Database) -> list[OutboxMessage]:
    """Every outbox row, in id order."""
    async with db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())
