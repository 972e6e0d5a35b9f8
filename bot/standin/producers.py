"""What monitoring sends to Trustbot's ingest endpoints, signed (for the demo, tests and benches)."""

from __future__ import annotations

import time

from trustbot.slack.signing import v0_signature


def ingest_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a producer sends with `body` to `/alerts` or `/usage`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Trustbot-Timestamp": stamp,
        "X-Trustbot-Signature": v0_signature(secret, stamp, body),
        "Content-Type": "application/json",
    }
