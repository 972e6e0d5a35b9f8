"""What every handler, job and CLI command needs, built once per process and passed in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.delivery.worker import DeliveryWorker
from trustbot.metrics import Metrics
from trustbot.slack.preflight import Installation
from trustbot.storage.database import Database

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from trustbot.slack.installations import EncryptedInstallationStore

# Services running after ack() at once; more only makes each wait longer for the event loop.
WORK_SLOTS = 4
# How long the directory's who-acts-for-which-org map is used before it is read again. It only orders
# waiting work (authorisation reads the directory afresh in every service call), so a stale entry is harmless.
WORK_KEYS_SECONDS = 30.0


class WorkSlots:
    """At most `size` services run after ack() at once; waiting ones take turns round-robin by key.

    The key is whose work it is (an org, see `trustbot.services.directory.work_keys`): each key
    has its own queue, and a freed slot goes to the head of the next key's queue, so 400 commands
    from one org wait behind each other while another org's one command is next but one. The
    waiting is done by the listener's own task, so tracking (`PostAckTasks`), cancellation at
    shutdown and the listener's failure handling are exactly those of the work itself.
    """

    def __init__(self, size: int = WORK_SLOTS) -> None:
        self.size = size
        self._free = size
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}  # in turn order: the next key is first

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one slot for the block, after waiting for `key`'s turn if every slot is busy."""
        await self._acquire(key)
        try:
            yield
        finally:
            self._release()

    def waiting(self) -> int:
        """How many are waiting for a slot."""
        return sum(len(queue) for queue in self._queues.values())

    async def _acquire(self, key: str) -> None:
        if self._free > 0 and not self._queues:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the slot was handed over as we were cancelled: pass it on
                self._release()
            else:
                self._forget(key, turn)
            raise

    def _forget(self, key: str, turn: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._queues[key]

    def _release(self) -> None:
        """Hand the slot to the first waiter of the next key, which then goes to the back of the line."""
        while self._queues:
            key = next(iter(self._queues))
            queue = self._queues.pop(key)
            turn = queue.popleft()
            if queue:
                self._queues[key] = queue
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class WorkKeys:
    """Whose turn a person's work takes in `WorkSlots`, from a map of the directory read at most every
    `WORK_KEYS_SECONDS` by one caller at a time (the others wait for that read, never start their own)."""

    def __init__(self, ttl: float = WORK_KEYS_SECONDS) -> None:
        self._ttl = ttl
        self._keys: dict[str, str] = {}
        self._read_at: float | None = None
        self._reading: asyncio.Future[None] | None = None

    async def key_of(self, user_id: str, load: Callable[[], Awaitable[dict[str, str]]]) -> str | None:
        """The person's key as `load` maps it; None when it does not (or the directory could not be read)."""
        loop = asyncio.get_running_loop()
        if self._read_at is None or loop.time() - self._read_at > self._ttl:
            if self._reading is not None:
                await asyncio.shield(self._reading)
            else:
                await self._read(load)
        return self._keys.get(user_id)

    async def _read(self, load: Callable[[], Awaitable[dict[str, str]]]) -> None:
        self._reading = asyncio.get_running_loop().create_future()
        try:
            self._keys = await load()
            self._read_at = asyncio.get_running_loop().time()
        except Exception:  # ordering is all that is lost: everyone is their own key until the next read
            log.exception("could not read the directory to order work; each person's work is its own queue")
        finally:
            self._reading.set_result(None)
            self._reading = None


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
    work_slots: WorkSlots = field(init=False)
    work_keys: WorkKeys = field(default_factory=WorkKeys)  # whose turn each person's work takes in work_slots
    post_ack: PostAckTasks = field(default_factory=PostAckTasks)
    running_jobs: PostAckTasks = field(default_factory=PostAckTasks)  # scheduled runs in flight, for stop()
    # Set when shutting down: new Slack requests and ingest are refused (503) while work in flight ends.
    draining: bool = False
    installation: Installation | None = None  # from auth.test at start; payloads of other workspaces are ignored
    # Customer workspaces' installations (tokens sealed); None unless SLACK_CLIENT_ID/SECRET are set.
    installations: EncryptedInstallationStore | None = None

    def __post_init__(self) -> None:
        # SQLite runs one transaction at a time (BEGIN IMMEDIATE) and hands its lock to whichever waiter's
        # busy-retry wakes first, not to whoever waited longest: more than one slot there only lets that
        # lottery reorder the fair turns (and sleep in retries), never run more at once.
        self.work_slots = WorkSlots(1 if self.db.dialect == "sqlite" else WORK_SLOTS)
        if self.installations is not None:
            self._route_deliveries(self.installations)

    async def people_client(self, workspace: str | None) -> AsyncWebClient | None:
        """The client whose `users.info` knows a workspace's people: home's, the installation's, or None while
        that installation cannot be reached (uninstalled, broken): lookups then count as unanswered."""
        if workspace is None:
            return self.client
        if self.delivery.workspaces is None:
            return None
        from trustbot.delivery.workspaces import NoToken

        try:
            return await self.delivery.workspaces.client_for(workspace)
        except NoToken:
            return None

    def _route_deliveries(self, store: EncryptedInstallationStore) -> None:
        """Let delivery send customer workspaces' rows with their own tokens, and mark a refused one broken."""
        from trustbot.delivery.workspaces import WorkspaceClients
        from trustbot.services.context import system_context
        from trustbot.services.installs.workspaces import installation_broken

        settings = self.settings
        self.delivery.workspaces = WorkspaceClients(
            self.db,
            store,
            base_url=settings.slack_api_url,
            timeout=settings.slack_timeout_seconds,
            seconds=self.metrics.slack_api_seconds,
        )

        async def broken(key: str, error: str) -> None:
            async with self.db.transaction() as session:
                await installation_broken(session, system_context(self.clock, settings), key=key, error=error)

        self.delivery.on_broken = broken
