"""The HTTP listener's defences against clients that hold connections open.

- **Header deadline** (TRUSTBOT_HTTP_HEADER_TIMEOUT_SECONDS): a connection must deliver a request's
  whole head within this long of opening or of its previous answer, else it is closed. It is aiohttp's
  keep-alive timer, which runs while the connection waits for a complete request head, so idle
  keep-alive connections are closed after the same time.
- **Body deadline** (TRUSTBOT_HTTP_BODY_TIMEOUT_SECONDS): from its head, a request's body must arrive
  within this long; a stalled one is answered 408 and its connection closed.
- **Connection cap** (TRUSTBOT_HTTP_MAX_CONNECTIONS): at the cap, a new connection displaces the
  connection idle the longest (one with no request being handled: slow-header or idle clients), else
  the one whose body has been trickling in longest (over a second), never a request being worked on,
  so a signed Slack request still gets through; when every connection is busy, the new one is closed
  at once. Open file descriptors stay bounded, so the database and Slack keep theirs.
- Every line an outsider can cause here (connections closed at the cap, accept errors such as "Too many
  open files") is sampled: see `trustbot.log_sampling`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from collections.abc import Callable
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.typedefs import Handler, Middleware

from trustbot.log_sampling import SampledWarning
from trustbot.metrics import Metrics

log = logging.getLogger(__name__)

# What asyncio's accept loop reports (then pauses accepting for a second) when the process is out of resources.
_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# A body still arriving this long after its head makes its connection displaceable at the cap (after idle
# ones): Slack's and monitoring's bodies arrive within milliseconds, a slow-body flood must not hold the cap.
SLOW_BODY_SECONDS = 1.0


class BodyTimeout(asyncio.TimeoutError):
    """A request body stalled past its deadline (a TimeoutError, so aiohttp's lingering read ends quietly)."""


def body_deadline(seconds: float, metrics: Metrics) -> Middleware:
    """Answer 408 (and close) when a request's body has not fully arrived `seconds` after its head."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        content = request.content
        if content.is_eof():
            return await handler(request)

        def stalled() -> None:
            if not content.is_eof():
                content.set_exception(BodyTimeout())  # wakes the handler's read

        timer = asyncio.get_running_loop().call_later(seconds, stalled)
        try:
            return await handler(request)
        except BodyTimeout:
            metrics.http_connections_closed.labels("body_timeout").inc()
            response = web.json_response({"error": f"request body not received within {seconds:g}s"}, status=408)
            response.force_close()
            return response
        finally:
            timer.cancel()

    return middleware


class _Connection:
    __slots__ = ("body", "busy", "idle_since", "since", "transport")

    def __init__(self, transport: asyncio.BaseTransport, now: float) -> None:
        self.transport = transport
        self.busy = 0
        self.idle_since = now
        self.since = now  # when its current request's head arrived
        self.body: StreamReader | None = None  # that request's body while it is being handled

    def displace_order(self, now: float) -> tuple[int, float] | None:
        """How early this connection is closed to make room (idle first, then slow bodies); None: never."""
        if self.transport.is_closing():
            return None
        if self.busy == 0:
            return (0, self.idle_since)
        if self.body is not None and not self.body.is_eof() and now - self.since > SLOW_BODY_SECONDS:
            return (1, self.since)
        return None


class ConnectionGuard:
    """Counts the listener's connections and keeps them at or under `limit` (see the module docstring)."""

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self._metrics = metrics
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        self._refused = SampledWarning(log)
        self._displaced = SampledWarning(log)

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Take a new connection, closing the longest-idle one to make room; False: at the cap and all busy."""
        now = asyncio.get_running_loop().time()
        if len(self._open) >= self.limit:
            ranked = [(order, c) for c in self._open.values() if (order := c.displace_order(now)) is not None]
            if not ranked:
                self._refused.warn(
                    "%d connections open and all busy (TRUSTBOT_HTTP_MAX_CONNECTIONS): closed a new one",
                    len(self._open),
                )
                self._metrics.http_connections_closed.labels("cap_all_busy").inc()
                return False
            (slow, since), oldest = min(ranked, key=lambda pair: pair[0])
            self._displaced.warn(
                "%d connections open (TRUSTBOT_HTTP_MAX_CONNECTIONS): closed one %s for %.1fs to make room",
                len(self._open),
                "sending its body" if slow else "idle",
                now - since,
            )
            self._metrics.http_connections_closed.labels("cap_slow_body" if slow else "cap_idle").inc()
            self.release(oldest.transport)
            oldest.transport.close()
        self._open[transport] = _Connection(transport, now)
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Forget a connection (closed by either side)."""
        self._open.pop(transport, None)

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """Wrap aiohttp's protocol factory so every connection passes the guard."""
        return lambda: _GuardedProtocol(self, inner())

    def middleware(self) -> Middleware:
        """Marks a connection busy while one of its requests is handled (displaced only while its body is slow)."""

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            connection = self._open.get(request.transport) if request.transport is not None else None
            if connection is None:
                return await handler(request)
            connection.busy += 1
            connection.since, connection.body = asyncio.get_running_loop().time(), request.content
            try:
                return await handler(request)
            finally:
                connection.busy -= 1
                connection.body = None
                connection.idle_since = asyncio.get_running_loop().time()

        return middleware


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, reached only once the guard admitted it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(transport):
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # at once, without waiting for the peer: the point is to free the descriptor
            else:
                transport.close()
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._transport is not None else None

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.release(self._transport)
            self._inner.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass a `ConnectionGuard`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)  # aiohttp's backlog (128): asyncio retries a failed accept once per backlog slot
        self._host, self._port, self._guard = host, port, guard

    @property
    def name(self) -> str:
        """The address asked for (the bound ones are in the runner's `addresses`)."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen."""
        await super().start()
        server = self._runner.server
        assert server is not None  # the runner was set up
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port, backlog=self._backlog, reuse_address=True
        )


def sample_accept_errors(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Log asyncio's "out of resources" accept errors sampled, in one line; returns what undoes it."""
    previous = loop.get_exception_handler()
    errors = SampledWarning(log)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS and "accept" in str(context.get("message")):
            errors.warn("cannot accept connections: %s (see TRUSTBOT_HTTP_MAX_CONNECTIONS)", exc.strerror or exc)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return lambda: loop.set_exception_handler(previous)


class _MalformedRequests(logging.Filter):
    """aiohttp answers a malformed request (a request line over 8 KiB, a bad header) with 400, then logs it at
    ERROR with a traceback of ten lines, one per request: anyone could fill the log with them."""

    def __init__(self) -> None:
        super().__init__()
        self._sampled = SampledWarning(log)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage):
            self._sampled.warn("malformed HTTP requests answered 400 (%s)", type(exc).__name__)
            return False
        return True


def sample_malformed_requests() -> Callable[[], None]:
    """Log the requests aiohttp refuses as malformed in one sampled line each; returns what undoes it."""
    server_log = logging.getLogger("aiohttp.server")
    malformed = _MalformedRequests()
    server_log.addFilter(malformed)
    return lambda: server_log.removeFilter(malformed)


def warn_if_over_file_limit(max_connections: int) -> None:
    """Say at start when the connection cap leaves too few file descriptors for the database and Slack."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections + 64 > soft:
        log.warning(
            "TRUSTBOT_HTTP_MAX_CONNECTIONS=%d leaves under 64 of the %d open files this process may have; "
            "lower it or raise the limit (ulimit -n)",
            max_connections,
            soft,
        )
