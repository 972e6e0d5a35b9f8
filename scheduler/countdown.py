"""The shape three jobs share: warn N days before a date, then end what reaches it.

`reverification` reminds admins, then suspends overdue grants; `grant-expiry` warns admins, then
expires grants; `org-verification` warns reps, then suspends the org's grants. Each supplies its
candidate queries and its two units of work (services); the run here is written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.scheduler.batches import Work, describe, run_batch
from trustbot.storage.database import Database

T = TypeVar("T")


@dataclass(frozen=True)
class Countdown(Generic[T]):
    """One countdown job: what is coming up, what is due, and what to do with each."""

    name: str
    offsets: Sequence[int]  # days before the date at which to warn
    upcoming: Callable[[AsyncSession, datetime], Awaitable[list[T]]]  # candidates whose date is before the bound
    overdue: Callable[[AsyncSession], Awaitable[list[T]]]
    days_left: Callable[[T], int]
    warn: Work[T]
    end: Work[T]
    labels: tuple[str, str]  # how the outcome counts warnings and endings, e.g. ("reminders", "suspended")


async def run_countdown(db: Database, countdown: Countdown[T], *, now: datetime) -> str:
    """Warn what is within the largest offset, end what is due; returns the run's one-line outcome."""
    offsets = sorted({d for d in countdown.offsets if d >= 0})
    async with db.sessions() as session:
        upcoming = await countdown.upcoming(session, now + timedelta(days=max(offsets) + 1)) if offsets else []
        overdue = await countdown.overdue(session)
    soon = [item for item in upcoming if offsets and countdown.days_left(item) <= max(offsets)]
    counts = await run_batch(db, soon, countdown.warn, what=f"{countdown.name} warnings")
    counts += await run_batch(db, overdue, countdown.end, what=countdown.name)
    return describe(counts, [*countdown.labels, "failed"])
