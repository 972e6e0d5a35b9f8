"""Request signatures: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`, and for ingest also the
path-bound `v1=` + hex HMAC-SHA256 of `v1:{timestamp}:{path}:{raw body}`.

Slack signs its requests the v0 way, and Trustbot's ingest endpoints take the same scheme under
their own headers. This is the one implementation of it: ingest verification, and the producers
(the demo, tests and benches) that sign for ingest or play Slack. Requests from Slack are
verified with `slack_sdk.signature.SignatureVerifier` (see `handlers.http`).

v0 does not cover the path, so a body signed for `/alerts` verifies at `/usage`. v1 binds it; a
producer may send both (`v0=…,v1=…`) while Trustbots that know only v0 are still around, and
`TRUSTBOT_INGEST_REQUIRE_PATH_SIGNATURE` makes v1 mandatory once every producer sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

WINDOW_SECONDS = 300  # older or newer than this is refused, as Slack does
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_VERSIONED = re.compile(r"(v[01])=[0-9a-f]{64}")
HEADER_MAX_CHARS = 160  # two signatures, a comma and some spaces


def v0_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=<hex>` for `body` signed at `timestamp` with `secret`."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def v1_signature(secret: str, timestamp: str, path: str, body: bytes) -> str:
    """`v1=<hex>` for `body` sent to `path` (e.g. `/alerts`) at `timestamp` with `secret`."""
    signed = b"v1:" + timestamp.encode() + b":" + path.encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _window_problem(timestamp: str | None, signature: str | None, now: float | None) -> str | None:
    if not timestamp or not signature:
        return "missing timestamp or signature"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "timestamp is not unix seconds"
    if abs((time.time() if now is None else now) - int(timestamp)) > WINDOW_SECONDS:
        return "timestamp outside the 5-minute window"
    return None


def v0_problem(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float | None = None
) -> str | None:
    """None when `body` is signed with `secret` within the window, else why not (one short phrase).

    Header shapes are checked before anything is computed, so hostile headers cost nothing and
    never raise; the comparison is constant-time.
    """
    problem = _window_problem(timestamp, signature, now)
    if problem:
        return problem
    assert timestamp is not None and signature is not None  # checked just above
    if not _SIGNATURE.fullmatch(signature):
        return "signature is not v0=<64 hex digits>"
    if not hmac.compare_digest(v0_signature(secret, timestamp, body), signature):
        return "signature does not match"
    return None


def _signatures(header: str) -> dict[str, str] | None:
    """The header's signatures by version (`v0`, `v1`), or None when it is not one or two of them."""
    if len(header) > HEADER_MAX_CHARS:
        return None
    found: dict[str, str] = {}
    for part in header.split(","):
        match = _VERSIONED.fullmatch(part.strip())
        if match is None or match.group(1) in found:
            return None
        found[match.group(1)] = part.strip()
    return found


def ingest_problem(
    secret: str,
    timestamp: str | None,
    header: str | None,
    path: str,
    body: bytes,
    *,
    require_path: bool = False,
    now: float | None = None,
) -> str | None:
    """None when `body` is signed for `path` (v1) or, unless `require_path`, signed at all (v0); else why not.

    Every signature the header carries must match: a right v0 beside a wrong v1 is refused.
    """
    problem = _window_problem(timestamp, header, now)
    if problem:
        return problem
    assert timestamp is not None and header is not None  # checked just above
    signatures = _signatures(header)
    if signatures is None:
        return "signature is not v0=<64 hex digits> and/or v1=<64 hex digits>, comma-separated"
    if require_path and "v1" not in signatures:
        return "a path-bound v1 signature is required (TRUSTBOT_INGEST_REQUIRE_PATH_SIGNATURE)"
    expected = {"v0": v0_signature(secret, timestamp, body), "v1": v1_signature(secret, timestamp, path, body)}
    if not all(hmac.compare_digest(expected[version], given) for version, given in signatures.items()):
        return "signature does not match"
    return None
