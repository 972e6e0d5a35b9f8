"""Splitting long `IN (…)` lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Keeps `IN (…)` lists well under SQLite's and asyncpg's bound-parameter limits.
CHUNK = 2000


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
