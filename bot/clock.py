"""Where time comes from, so tests and `jobs run --now` can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current aware UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current time."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests, the demo and `jobs run --now`."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to `at`."""
        self._at = as_utc(at)

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`."""
        self._at += delta


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (a `Z` suffix allowed) into aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone offset")
    try:
        return as_utc(value)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a valid string but before year 1 in UTC
        raise ValueError(f"timestamp {text!r} is outside the years 1 to 9999 in UTC") from None
