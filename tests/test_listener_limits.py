"""The HTTP listener through raw sockets: slow heads and stalled bodies are closed,
connections are capped with idle ones making room for real requests, and what outsiders cause is
logged a line at a time, not a line per connection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bots import RunningBot, start_bot
from trustbot.clock import FixedClock
from trustbot.standin.sample import ADMIN
from trustbot.web import listener

HEAD = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def make_bot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[Any]:
    """Start a bot with the given settings (stopped at the end)."""
    bots: list[RunningBot] = []

    async def make(**settings: Any) -> RunningBot:
        bots.append(await start_bot(database_url, fake_slack, clock, **settings))
        return bots[-1]

    yield make
    for bot in bots:
        await bot.close()


async def connect(bot: RunningBot) -> Connection:
    assert bot.server.port is not None
    return await asyncio.open_connection("127.0.0.1", bot.server.port)


async def closed(reader: asyncio.StreamReader, within: float = 10) -> bool:
    """True when the server closed (or reset) the connection within `within` seconds."""
    try:
        return await asyncio.wait_for(reader.read(65536), within) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


async def wait_for_open(bot: RunningBot, count: int) -> None:
    """Until the server has taken `count` connections (accepting runs on the server's side of the loop)."""
    for _ in range(200):
        if len(bot.server.guard) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(bot.server.guard)} connections open, expected {count}")


async def closed_by_reason(bot: RunningBot) -> dict[str, float]:
    """`trustbot_http_connections_closed_total` by reason, as `GET /metrics` shows it (on the metrics listener
    when there is one: the public one may be full)."""
    port = bot.server.metrics_port or bot.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    text = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    prefix = 'trustbot_http_connections_closed_total{reason="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def test_a_head_sent_byte_by_byte_is_closed(make_bot: Any) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_HEADER_TIMEOUT_SECONDS=0.5)
    reader, writer = await connect(bot)
    head = HEAD + b"X-Padding: " + b"a" * 60  # never finished: no blank line
    watching = asyncio.create_task(closed(reader, within=30))
    sent = 0
    try:
        for byte in head:
            if watching.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.05)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert await watching, "connection still open after the whole head trickled in"
    assert sent < len(head)
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed(make_bot: Any) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_HEADER_TIMEOUT_SECONDS=0.5)
    reader, writer = await connect(bot)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await asyncio.wait_for(reader.readuntil(b'{"status": "ok"}'), 10)
    assert answer.startswith(b"HTTP/1.1 200")
    assert await closed(reader, within=10)
    writer.close()


@pytest.mark.parametrize("path", ["/slack/events", "/alerts"])
async def test_a_stalled_body_is_answered_408_and_closed(
    make_bot: Any, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_BODY_TIMEOUT_SECONDS=0.5)
    reader, writer = await connect(bot)
    head = HEAD.replace(b"/slack/events", path.encode())
    with caplog.at_level(logging.WARNING):
        writer.write(head + b"Content-Length: 100\r\n\r\n" + b"a=" + b"b" * 8)
        answer = await asyncio.wait_for(reader.read(65536), 10)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert await closed(reader)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # no traceback per stall
    assert (await closed_by_reason(bot))["body_timeout"] == 1
    writer.close()


async def test_idle_connections_make_room_for_a_signed_request(make_bot: Any) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_MAX_CONNECTIONS=5)
    idle = [await connect(bot) for _ in range(20)]
    await wait_for_open(bot, 5)
    await asyncio.sleep(0.05)  # every connect reached the server
    assert len(bot.server.guard) <= 5
    response = await bot.driver.command(ADMIN, "status")
    assert response.status == 200
    dropped = [await closed(reader, within=0.5) for reader, _ in idle]
    assert sum(dropped) >= 16, dropped  # the cap held, and the request's connection displaced one more
    assert (await closed_by_reason(bot))["cap_idle"] >= 16
    for _, writer in idle:
        writer.close()


async def hold_bodies(bot: RunningBot, count: int) -> list[Connection]:
    """`count` connections, each with a request whose body is on its way (and stays so)."""
    held = [await connect(bot) for _ in range(count)]
    for _, writer in held:
        writer.write(HEAD.replace(b"/slack/events", b"/alerts") + b"Content-Length: 100\r\n\r\n{")
    await wait_for_open(bot, count)
    await asyncio.sleep(0.1)  # every head reached its handler
    return held


async def test_busy_connections_are_kept_and_newcomers_closed_with_one_line(
    make_bot: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "SLOW_BODY_SECONDS", 3600)  # the bodies below count as arriving, not slow
    bot = await make_bot(TRUSTBOT_HTTP_MAX_CONNECTIONS=3, TRUSTBOT_METRICS_PORT=0)
    busy = await hold_bodies(bot, 3)
    with caplog.at_level(logging.WARNING, logger="trustbot.web.listener"):
        newcomers = [await connect(bot) for _ in range(200)]
        refused = [await closed(reader, within=2) for reader, _ in newcomers]
    assert all(refused)
    assert not any([await closed(reader, within=0.05) for reader, _ in busy])
    lines = [r.getMessage() for r in caplog.records if r.name == "trustbot.web.listener"]
    assert len(lines) == 1 and "all busy" in lines[0], lines
    assert (await closed_by_reason(bot)).get("cap_all_busy", 0) >= 200  # the log is sampled, the count is not
    for _, writer in busy + newcomers:
        writer.close()


async def test_slow_bodies_make_room_for_a_signed_request(make_bot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "SLOW_BODY_SECONDS", 0)  # any body still arriving is a slow one
    bot = await make_bot(TRUSTBOT_HTTP_MAX_CONNECTIONS=3)
    slow = await hold_bodies(bot, 3)
    response = await bot.driver.command(ADMIN, "status")
    assert response.status == 200
    assert sum([await closed(reader, within=0.5) for reader, _ in slow]) >= 1
    for _, writer in slow:
        writer.close()


async def test_displacing_idle_connections_logs_one_line(make_bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_MAX_CONNECTIONS=2)
    with caplog.at_level(logging.WARNING, logger="trustbot.web.listener"):
        idle = [await connect(bot) for _ in range(200)]
        await wait_for_open(bot, 2)
        await asyncio.sleep(0.1)
    lines = [r.getMessage() for r in caplog.records if r.name == "trustbot.web.listener"]
    assert len(lines) == 1 and "to make room" in lines[0], lines
    for _, writer in idle:
        writer.close()


@pytest.mark.usefixtures("bot")  # a running server installed its handler on this loop
async def test_accept_errors_are_one_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    emfile = OSError(errno.EMFILE, "Too many open files")
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):  # what asyncio's accept loop reports each time it retries
            loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": emfile})
    lines = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "Too many open files" in lines[0].getMessage()


async def test_running_out_of_file_descriptors_is_one_line(make_bot: Any, caplog: pytest.LogCaptureFixture) -> None:
    bot = await make_bot(TRUSTBOT_HTTP_MAX_CONNECTIONS=1000)
    clients = [socket.socket() for _ in range(30)]  # made first: once the limit is lowered only accept() lacks fds
    for client in clients:
        client.setblocking(False)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 2, hard))
    try:
        with caplog.at_level(logging.WARNING):
            for client in clients:
                with contextlib.suppress(BlockingIOError):
                    client.connect(("127.0.0.1", bot.server.port))
            await asyncio.sleep(2.5)  # asyncio retries accept() once a second
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for client in clients:
            client.close()
    lines = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "Too many open files" in lines[0].getMessage(), [
        r.getMessage() for r in lines
    ]


async def test_malformed_requests_are_answered_400_and_logged_in_one_line(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(20):  # a request line over aiohttp's 8 KiB
            reader, writer = await connect(bot)
            writer.write(b"POST /slack/events" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert (await reader.read(64)).startswith(b"HTTP/1.0 400")
            writer.close()
        await asyncio.sleep(0.1)
    logged = [r for r in caplog.records if r.name.startswith(("aiohttp", "trustbot"))]
    assert [(r.levelno, r.exc_info) for r in logged] == [(logging.WARNING, None)]
    assert "malformed HTTP requests answered 400 (LineTooLong)" in logged[0].getMessage()
