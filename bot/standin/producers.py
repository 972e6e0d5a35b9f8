"""What monitoring sends to Trustbot's ingest endpoints, signed (for the demo, tests and benches)."""

from __future__ import annotations

import time

from trustbot.slack.signing import v0_signature, v1_signature


def ingest_headers(
    secret: str, body: bytes, timestamp: int | None = None, *, path: str | None = None
) -> dict[str, str]:
    """The headers a producer sends with `body` to `/alerts` or `/usage`; with `path`, also the path-bound v1."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = v0_signature(secret, stamp, body)
    if path is not None:
        signature += "," + v1_signature(secret, stamp, path, body)
    return {"X-Trustbot-Timestamp": stamp, "X-Trustbot-Signature": signature, "Content-Type": "application/json"}
