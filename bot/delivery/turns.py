"""Which row of each lane is sent next: the lane's oldest, or, in a lane several parties share (`share`,
the org of each rep-channel write), the oldest row of the party whose turn was longest ago.

One org's burst in the reps channel then no longer queues another org's request behind it (Slack's
pace is one post a second per channel: forty requests, two posts each, once held the next org's card
for 80 s). Each party's rows keep their id order, since `lane_heads` gives only each party's oldest.
"""

from __future__ import annotations

from trustbot.storage.tables import OutboxMessage


def lane_of(row: OutboxMessage) -> str:
    """The lane a row is paced and ordered in: its channel, in its workspace (home: the channel alone)."""
    return f"{row.workspace}/{row.channel}" if row.workspace else row.channel


class Turns:
    """The order parties take turns in each shared lane, kept by one worker."""

    def __init__(self) -> None:
        self.enabled = True  # False: every party's rows in one queue, oldest first (bench/fairness_lane.py)
        self._last: dict[tuple[str, str], int] = {}  # (lane, party) -> the count when it last took a turn
        self._count = 0

    def pick(self, heads: list[OutboxMessage]) -> list[OutboxMessage]:
        """One head per lane, in id order: the one whose party's turn was longest ago (never: first)."""
        chosen: dict[str, OutboxMessage] = {}
        for row in heads:
            current = chosen.get(lane_of(row))
            if current is None or self._key(row) < self._key(current):
                chosen[lane_of(row)] = row
        return sorted(chosen.values(), key=lambda r: r.pk)

    def taken(self, row: OutboxMessage) -> None:
        """`row` was claimed: its party had its turn."""
        self._count += 1
        self._last[(lane_of(row), row.share or "")] = self._count

    def _key(self, row: OutboxMessage) -> tuple[int, int]:
        turn = self._last.get((lane_of(row), row.share or ""), 0) if self.enabled else 0
        return turn, row.pk
