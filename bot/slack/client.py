"""The Slack Web API client every part of Trustbot uses: each call timed by method, slack_sdk's own retries off."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Histogram
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse


class TimedWebClient(AsyncWebClient):
    """A Web API client that times every call by method: every `client.views_open(...)`, `chat_postMessage`
    and the rest end in `api_call`, so this one override covers delivery and Bolt listeners alike."""

    def __init__(self, *args: Any, seconds: Histogram | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = seconds

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        """The call, its latency observed under `method` whether it succeeds or raises."""
        started = time.perf_counter()
        try:
            return await super().api_call(api_method, **kwargs)
        finally:
            if self.seconds is not None:
                self.seconds.labels(api_method).observe(time.perf_counter() - started)


def build_slack_client(
    token: str, base_url: str, timeout: float, *, seconds: Histogram | None = None
) -> AsyncWebClient:
    """A Web API client, every call timed, with slack_sdk's own retries off: the outbox decides when to retry."""
    return TimedWebClient(
        token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[], seconds=seconds
    )
