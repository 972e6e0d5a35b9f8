"""How a test programs the fake Slack's failures (`fail`, `hang`, `answer_late`, `go_down`, `chaos`, …):
what each queues in `trustbot.standin.fake_faults`, which the fake consults on every call."""

from __future__ import annotations

import asyncio

from trustbot.standin.fake_faults import Chaos, Fault, Faults


class FaultControls:
    """The fake Slack's fault-programming methods, over its `faults` and the event held calls wait on."""

    faults: Faults
    not_member: set[str]  # channels the bot is not in (conversations.info says so)
    archived: set[str]
    _release: asyncio.Event

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` (optionally only for `channel`) with a failure; nothing happens."""
        if status == 200 and not error:
            error = "internal_error"
        self.faults.queued.append(Fault(method, status, error, retry_after, times, channel))

    def hang(self, method: str, times: int = 1) -> None:
        """Never answer the next `times` calls to `method` and do nothing (held until release() or stop())."""
        self.faults.queued.append(Fault(method, times=times, hang=True))

    def answer_late(self, method: str, seconds: float, *, times: int = 1, channel: str | None = None) -> None:
        """Carry out the next `times` calls, then answer each `seconds` late (past a client's timeout, say)."""
        self.faults.queued.append(Fault(method, times=times, channel=channel, late=seconds))

    def answer_never(self, method: str, *, times: int = 1, channel: str | None = None) -> None:
        """Carry out the next `times` calls and hold their answers until release() or stop()."""
        self.faults.queued.append(Fault(method, times=times, channel=channel, never=True))

    def drop_after(self, method: str, *, times: int = 1, channel: str | None = None) -> None:
        """Carry out the next `times` calls, then drop the connection instead of answering."""
        self.faults.queued.append(Fault(method, times=times, channel=channel, drop=True))

    def chaos(self, **shares: float | int) -> Chaos:
        """Random faults on every write from now on (`rate_limited=0.3, server_error=0.1, …`, `seed=`)."""
        self.faults.chaos = Chaos(**shares)  # type: ignore[arg-type]
        return self.faults.chaos

    def go_down(self) -> None:
        """Answer every Web API call with 503 until `come_back()`."""
        self.faults.down = True

    def come_back(self) -> None:
        """End an outage started by `go_down()`."""
        self.faults.down = False

    def refuse_channel(self, channel: str, error: str = "not_in_channel") -> None:
        """Refuse every post to `channel` with `error`, as Slack does when the bot is not in it (or it is archived)."""
        self.faults.refused[channel] = error
        (self.archived if error == "is_archived" else self.not_member).add(channel)

    def reset_faults(self) -> None:
        """Drop every programmed fault (recordings are kept)."""
        self.faults.reset()

    def release(self) -> None:
        """Drop every programmed fault and answer calls held so far (hung ones with 503)."""
        self.reset_faults()
        self._release.set()
        self._release = asyncio.Event()

    def rate_limit_channels(self, per_second: float | None = 1.0) -> None:
        """Answer 429 to a write to a channel sooner than 1/per_second after its last one (None: off)."""
        self.faults.rate_limit = per_second
