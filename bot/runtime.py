"""What every handler, job and CLI command needs, built once per process and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.metrics import Metrics
from storage.database import Database


@dataclass
class Runtime:
    """Settings, database, clock, Slack client, delivery worker and metrics of one process."""

    settings: Settings
    db: Database
    clock: Clock
    client: AsyncWebClient
    delivery: DeliveryWorker
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def operators(self) -> list[str]:
        """Operators named by `TRUSTBOT_OPERATORS` (the directory may add more)."""
        return self.settings.operators
