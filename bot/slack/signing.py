"""The v0 request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`.

Slack signs its requests this way, and Trustbot's ingest endpoints take the same scheme under
their own headers. This is the one implementation of it: ingest verification, and the producers
(the demo, tests and benches) that sign for ingest or play Slack. Requests from Slack are
verified with `slack_sdk.signature.SignatureVerifier` (see `handlers.http`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

WINDOW_SECONDS = 300  # older or newer than this is refused, as Slack does
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def v0_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=<hex>` for `body` signed at `timestamp` with `secret`."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def v0_problem(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float | None = None
) -> str | None:
    """None when `body` is signed with `secret` within the window, else why not (one short phrase).

    Header shapes are checked before anything is computed, so hostile headers cost nothing and
    never raise; the comparison is constant-time.
    """
    if not timestamp or not signature:
        return "missing timestamp or signature"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "timestamp is not unix seconds"
    if abs((time.time() if now is None else now) - int(timestamp)) > WINDOW_SECONDS:
        return "timestamp outside the 5-minute window"
    if not _SIGNATURE.fullmatch(signature):
        return "signature is not v0=<64 hex digits>"
    if not hmac.compare_digest(v0_signature(secret, timestamp, body), signature):
        return "signature does not match"
    return None
