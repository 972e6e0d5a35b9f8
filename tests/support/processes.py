"""A server in a child process, for tests and benchmarks that need a real `trustbot serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import aiohttp

# Under pytest-xdist each worker hands out ports from a range of its own, below the kernel's ephemeral
# range (32768 and up on Linux), from which every `bind(port 0)` (a fake Slack, an in-process bot) is
# served. A port one worker found free is then never found free by another, or taken by a bind of
# either, in the moment before the child process that is to listen on it binds it.
FIRST_WORKER_PORT = 20000
PORTS_PER_WORKER = 500
_handed_out = 0


def _worker_index() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else None


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (and, under xdist, this worker's alone)."""
    global _handed_out
    index = _worker_index()
    if index is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    base = FIRST_WORKER_PORT + index * PORTS_PER_WORKER
    start = os.getpid() % PORTS_PER_WORKER  # two runs at once start at different places
    for _ in range(PORTS_PER_WORKER):
        port = base + (start + _handed_out) % PORTS_PER_WORKER
        _handed_out += 1  # never the same port twice in a row, even if its last child has not let go
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {base}..{base + PORTS_PER_WORKER - 1}")


def clean_env() -> dict[str, str]:
    """This process's environment without any Trustbot or Slack setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRUSTBOT_", "DATABASE_URL"))}


class ServerProcess:
    """A child process serving HTTP on `port`: started and waited for on `/readyz`, stopped with SIGTERM or SIGKILL."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path, cwd: Path | None = None
    ) -> None:
        self.name, self.argv, self.env, self.port, self.log, self.cwd = name, argv, env, port, log, cwd
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Where Slack would post events."""
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self, timeout: float = 60.0) -> None:
        """Start the process and return once `/readyz` answers 200."""
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline and self.proc.returncode is None:
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become ready:\n" + self.log.read_text()[-3000:])

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
