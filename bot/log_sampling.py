"""Warnings an outsider can trigger at will (unsigned requests, refused connections, accept errors) are
sampled: the first is logged, then at most one per interval, saying how many were held back meanwhile.
A flood of bad requests then costs a line a minute, not a line a request (unsampled, 1,000 unsigned
requests wrote 1,000 lines, and an fd exhaustion 154,751 in 20 s)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

SAMPLE_SECONDS = 60.0


class SampledWarning:
    """One kind of warning, logged at most once per `every` seconds with the count of those suppressed."""

    def __init__(
        self, logger: logging.Logger, every: float = SAMPLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._suppressed = 0

    @property
    def suppressed(self) -> int:
        """Warnings held back since the last line logged."""
        return self._suppressed

    def warn(self, message: str, *args: object) -> None:
        """Log `message % args` unless one of this kind was logged less than `every` seconds ago (then count it)."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            self._suppressed += 1
            return
        if self._suppressed and self._last is not None:
            message += " (and %d more like it in the last %ds, not logged)"
            args = (*args, self._suppressed, round(now - self._last))
        self._logger.warning(message, *args)
        self._last, self._suppressed = now, 0
