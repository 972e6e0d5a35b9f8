"""Once-only notices: a reminder or warning is sent by whoever inserts its key first.

The key row is written in the same transaction as the outbox rows of the notice, so a notice
is produced exactly once even when two replicas, or a scheduled run and `jobs run --now`, race:
`INSERT … ON CONFLICT DO NOTHING RETURNING key` tells each caller which keys it won.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock
from trustbot.storage.queries import notices as q

T = TypeVar("T")


async def claim_notices(session: AsyncSession, clock: Clock, keys: Iterable[str]) -> set[str]:
    """Insert every key not yet sent; return the keys this call claimed (and so must send)."""
    return await q.claim_keys(session, keys=keys, at=clock.now())


def days_until(when: datetime, now: datetime, tz: tzinfo) -> int:
    """Calendar days from today to `when`, in the display zone."""
    return (when.astimezone(tz).date() - now.astimezone(tz).date()).days


async def claim_countdown(
    session: AsyncSession,
    clock: Clock,
    items: Sequence[T],
    *,
    offsets: Sequence[int],
    days_left: Callable[[T], int],
    key: Callable[[T, int], str],
) -> list[T]:
    """The items whose most urgent countdown notice ("N days before") this call claimed.

    Every offset already reached is claimed in one statement, but only the most urgent is
    sent: a grant first seen 2 days before its date gets the 3-day notice, not 14 and 3.
    """
    applicable = {id(item): [d for d in offsets if days_left(item) <= d] for item in items}
    won = await claim_notices(session, clock, [key(item, d) for item in items for d in applicable[id(item)]])
    return [item for item in items if applicable[id(item)] and key(item, min(applicable[id(item)])) in won]


async def claim_notice(session: AsyncSession, clock: Clock, key: str) -> bool:
    """Claim one notice key; True when this call is the one that must send it."""
    return key in await claim_notices(session, clock, [key])
