"""What every handler, job and CLI command needs, built once per process and passed in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.metrics import Metrics
from storage.database import Database

# Services running after ack() at once; more only makes each wait longer for the event loop.
WORK_SLOTS = 4


@dataclass
class Runtime:
    """Settings, database, clock, Slack client, delivery worker and metrics of one process."""

    settings: Settings
    db: Database
    clock: Clock
    client: AsyncWebClient
    delivery: DeliveryWorker
    metrics: Metrics = field(default_factory=Metrics)
    work_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(WORK_SLOTS))

    @property
    def operators(self) -> list[str]:
        """Operators named by `TRUSTBOT_OPERATORS` (the directory may add more)."""
        return self.settings.operators
