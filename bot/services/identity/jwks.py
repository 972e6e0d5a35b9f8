"""An org IdP's signing keys for Shared Signals: fetched from its `jwks_uri`, bounded, cached per org.

A fetch is bounded in time and size, so a slow or hostile JWKS endpoint costs a receiver request a few
seconds at most; a key id the cache does not know triggers one refetch, and at most one per org per
`refetch_every` seconds, so a stream of made-up `kid`s cannot make us hammer the IdP.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp
from joserfc.jwk import KeySet

FETCH_SECONDS = 3.0  # read at call time, like REFETCH_EVERY
MAX_JWKS_BYTES = 64 * 1024
TTL_SECONDS = 600.0
REFETCH_EVERY = 30.0  # seconds; read at call time so tests can shorten it


class KeysUnavailable(Exception):
    """The org's JWKS could not be fetched or read; `str(error)` says why."""


@dataclass
class _Entry:
    keys: KeySet
    fetched_at: float


@dataclass
class JwksCache:
    """Each org's key set, by `jwks_uri`, kept for `ttl` seconds; refetched on an unknown `kid` at most once
    per `REFETCH_EVERY` seconds."""

    ttl: float = TTL_SECONDS
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def keys_for(self, uri: str, kid: str | None) -> KeySet:
        """The key set to verify with: the cached one unless stale or lacking `kid` (and a refetch is allowed)."""
        async with self._locks.setdefault(uri, asyncio.Lock()):
            entry = self._entries.get(uri)
            now = time.monotonic()
            fresh = entry is not None and now - entry.fetched_at < self.ttl
            if entry is not None and fresh and (_has_kid(entry.keys, kid) or now - entry.fetched_at < REFETCH_EVERY):
                return entry.keys
            keys = await fetch_jwks(uri, timeout=FETCH_SECONDS)
            self._entries[uri] = _Entry(keys, time.monotonic())
            return keys


def _has_kid(keys: KeySet, kid: str | None) -> bool:
    return kid is None or any(key.kid == kid for key in keys.keys)


async def fetch_jwks(uri: str, *, timeout: float = FETCH_SECONDS) -> KeySet:
    """GET `uri` and parse its JWKS (public keys only), within `timeout` seconds and `MAX_JWKS_BYTES`."""
    try:
        async with asyncio.timeout(timeout):
            client_timeout = aiohttp.ClientTimeout(total=timeout)
            async with aiohttp.ClientSession(timeout=client_timeout) as http, http.get(uri, allow_redirects=False) as r:
                if r.status != 200:
                    raise KeysUnavailable(f"the JWKS endpoint answered {r.status}")
                body = await r.content.read(MAX_JWKS_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise KeysUnavailable(f"the JWKS endpoint could not be reached ({type(error).__name__})") from None
    if len(body) > MAX_JWKS_BYTES:
        raise KeysUnavailable("the JWKS is too large")
    try:
        data = json.loads(body)
        keys = [k for k in data["keys"] if isinstance(k, dict) and not k.get("d")]
        return KeySet.import_key_set({"keys": keys})
    except Exception:  # any malformed JWKS is the same answer to the transmitter: its keys are unusable
        raise KeysUnavailable("the JWKS is not a valid key set") from None
