"""How scheduled jobs run their work: in batches that fall back to one item at a time, and the
one-line outcome each run records."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.outbox import flush_outbox
from trustbot.storage.database import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession, Sequence[T]], Awaitable[Counter[str]]]


async def run_batch(db: Database, items: Sequence[T], work: Work[T], *, what: str) -> Counter[str]:
    """Run `work` over all items in one transaction; if that fails, item by item, so one bad item stops nothing else.

    The batch path keeps statements constant per run; the fallback only runs after a failure.
    `work` must re-check each item inside its transaction (conditional updates, notice claims).
    """
    if not items:
        return Counter()
    try:
        async with db.transaction() as session:
            counts = await work(session, items)
            await flush_outbox(session)
            return counts
    except Exception:
        log.exception("%s: the batch of %d failed; retrying item by item", what, len(items))
    total: Counter[str] = Counter()
    for item in items:
        try:
            async with db.transaction() as session:
                total += await work(session, [item])
                await flush_outbox(session)
        except Exception:
            log.exception("%s: item %r failed; continuing with the rest", what, getattr(item, "id", item))
            total["failed"] += 1
    return total


def describe(counts: Counter[str], order: Sequence[str]) -> str:
    """`3 reminders, 1 suspended` from counts, in `order`, zeros left out (`nothing due` when empty)."""
    names = [n for n in order if counts.get(n)] + [n for n in sorted(counts) if n not in order and counts[n]]
    # Nouns are plural (`reminders`); `1 reminder` reads better. Participles (`suspended`) stay.
    return (
        ", ".join(f"{counts[n]} {n[:-1] if counts[n] == 1 and n.endswith('s') else n}" for n in names) or "nothing due"
    )
