"""What every handler, job and CLI command needs, built once per process and passed in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.delivery.worker import DeliveryWorker
from trustbot.metrics import Metrics
from trustbot.slack.preflight import Installation
from trustbot.storage.database import Database

if TYPE_CHECKING:
    from trustbot.slack.installations import EncryptedInstallationStore

# Services running after ack() at once; more only makes each wait longer for the event loop.
WORK_SLOTS = 4


class PostAckTasks:
    """Tasks still working that stopping must end first: listeners after their ack, or scheduled job runs.

    Bolt runs each listener in a task of its own and keeps no handle on it; every guarded listener
    registers its task here while it runs.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Register the current task for as long as the block runs."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self, timeout: float) -> bool:
        """Wait until every registered listener (and any it started meanwhile) finished; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0)  # a listener Bolt scheduled a moment ago registers on its first step
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
            await asyncio.sleep(0)
        return True

    async def cancel_all(self, timeout: float = 5.0) -> None:
        """Cancel the listeners still running and wait (bounded) for them to end: stopping at once."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


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
    post_ack: PostAckTasks = field(default_factory=PostAckTasks)
    running_jobs: PostAckTasks = field(default_factory=PostAckTasks)  # scheduled runs in flight, for stop()
    # Set when shutting down: new Slack requests and ingest are refused (503) while work in flight ends.
    draining: bool = False
    installation: Installation | None = None  # from auth.test at start; payloads of other workspaces are ignored
    # Customer workspaces' installations (tokens sealed); None unless SLACK_CLIENT_ID/SECRET are set.
    installations: EncryptedInstallationStore | None = None
