"""How the fake Slack misbehaves on demand: refusals, rate limits, outages, and calls it carries out but
answers late, never, or by dropping the connection — the cases where the caller cannot know what happened."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

WRITES = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})


@dataclass
class Fault:
    """One programmed misbehaviour of the next matching call(s).

    `when` is `before` (Slack refuses; nothing happens) or `after` (Slack carries the call out, then
    answers `late` seconds later, `never`, or drops the connection).
    """

    method: str
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    times: int = 1
    channel: str | None = None
    hang: bool = False  # before: hold the call unanswered and do nothing
    late: float | None = None  # after: answer this many seconds late
    never: bool = False  # after: hold the answer until release()
    drop: bool = False  # after: close the connection instead of answering

    @property
    def after(self) -> bool:
        """True when the call is carried out before the fault shows."""
        return self.late is not None or self.never or self.drop


@dataclass
class Chaos:
    """Random faults on writes, each call drawing once (seeded, so a drill can be rerun exactly)."""

    rate_limited: float = 0.0
    server_error: float = 0.0
    late: float = 0.0
    dropped: float = 0.0
    message_limit: float = 0.0
    late_seconds: float = 2.0
    seed: int = 0
    methods: frozenset[str] = WRITES
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._random.seed(self.seed)

    def draw(self, method: str) -> Fault | None:
        """The fault this call meets, if any."""
        if method not in self.methods:
            return None
        roll = self._random.random()
        for share, fault in (
            (self.rate_limited, Fault(method, status=429, error="ratelimited", retry_after=1)),
            (self.server_error, Fault(method, status=500)),
            (self.message_limit, Fault(method, error="message_limit_exceeded")),
            (self.late, Fault(method, late=self.late_seconds)),
            (self.dropped, Fault(method, drop=True)),
        ):
            if roll < share:
                return fault
            roll -= share
        return None


class Faults:
    """Everything programmed to go wrong, consulted once per call."""

    def __init__(self) -> None:
        self.queued: list[Fault] = []
        self.chaos: Chaos | None = None
        self.down = False
        self.rate_limit: float | None = None  # writes per second per channel, else 429
        self.refused: dict[str, str] = {}  # channel → the ok:false error its posts get

    def reset(self) -> None:
        """Forget every fault."""
        self.queued.clear()
        self.chaos = None
        self.down = False
        self.rate_limit = None
        self.refused.clear()

    def take(self, method: str, channel: str | None) -> Fault | None:
        """The fault the next call to `method` (in `channel`) meets, consuming a queued one."""
        for fault in self.queued:
            if fault.method == method and (fault.channel is None or fault.channel == channel):
                fault.times -= 1
                if fault.times <= 0:
                    self.queued.remove(fault)
                return fault
        return self.chaos.draw(method) if self.chaos is not None else None
