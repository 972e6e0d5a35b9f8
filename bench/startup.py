"""Start-up: from spawning `trustbot serve` to its first `/readyz` 200, and its resident memory idle.

Three kinds of start, interleaved round by round, each a fresh child process talking to a FakeSlack
in this process (127.0.0.1):

* `fresh`   — `trustbot serve` on an empty SQLite file: every migration runs, the directory is applied.
* `restart` — `trustbot serve` on a database already at head with the directory already applied
  (what a deploy or a crash restart does).
* `bare`    — `bench/bare_bolt_app.py`: the Python, aiohttp and Bolt floor, for scale.

The other kinds run with bytecode caching on (as an installed package has it): the variable is
removed from the child's environment, so the uncounted warm-up start writes the `.pyc` files.

The clock starts just before the process is spawned and stops at the first 200 from `/readyz`
(polled every 10 ms); the CPU time the process used until then is printed too, as it varies
less than wall time on a shared machine. Resident memory (VmRSS) of the restarted server is read once it is ready and
idle. Prints the median of `--repeats` runs of each.

    .venv/bin/python bench/startup.py [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import repo_root  # noqa: F401  (the repository root on sys.path, for tests.support)

from tests.support.processes import clean_env, free_port
from trustbot.standin.sample import DIRECTORY_YAML, PEOPLE

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-startup-secret"


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Started:
    """One start: seconds from spawn to the first `/readyz` 200, CPU seconds used by then, RSS when idle."""

    seconds: float
    cpu: float
    rss: float


@dataclass
class StartBench:
    fake: Any
    tmp: Path
    results: dict[str, list[Started]] = field(default_factory=dict)

    def env(self, port: int, db: Path | None) -> dict[str, str]:
        env = {
            **{k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"},
            "SLACK_BOT_TOKEN": "xoxb-startup",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.fake.api_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "TRUSTBOT_SCHEDULER_ENABLED": "false",
            "TRUSTBOT_LOG_LEVEL": "WARNING",
        }
        if db is not None:
            directory = self.tmp / "directory.yml"
            directory.write_text(DIRECTORY_YAML)
            env |= {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TRUSTBOT_DIRECTORY": str(directory)}
        return env

    async def start_once(self, kind: str, db: Path | None, idle: float = 0.0) -> Started:
        """Spawn, wait for `/readyz` 200, read RSS (after `idle` s), stop with SIGTERM."""
        port = free_port()
        if kind == "bare":
            argv = [sys.executable, str(ROOT / "bench" / "bare_bolt_app.py")]
        else:
            argv = [sys.executable, "-m", "trustbot", "serve"]
        log = (self.tmp / f"{kind}.log").open("ab")
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv, env=self.env(port, db), cwd=ROOT, stdout=log, stderr=log)
        try:
            seconds = await wait_ready(port, proc, started)
            cpu = cpu_seconds(proc.pid)
            if idle:
                await asyncio.sleep(idle)
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            await proc.wait()
            log.close()
        self.results.setdefault(kind, []).append(Started(seconds, cpu, rss))
        return self.results[kind][-1]

    async def round(self, n: int) -> None:
        fresh = self.tmp / f"fresh-{n}.db"
        await self.start_once("fresh", fresh)
        await self.start_once("bare", None)
        await self.start_once("restart", fresh, idle=1.0)  # the same file, now at head: a restart


async def wait_ready(port: int, proc: asyncio.subprocess.Process, started: float, timeout: float = 60) -> float:
    """Seconds from `started` to the first 200 from `/readyz`."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.perf_counter() - started < timeout:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    raise RuntimeError(f"not ready after {timeout} s")


async def run(repeats: int) -> dict[str, list[Started]]:
    """`repeats` rounds of fresh, bare and restart starts; the results by kind."""
    from trustbot.standin.fake_slack import FakeSlack

    tmp = Path(tempfile.mkdtemp(prefix="trustbot-startup-"))
    fake = FakeSlack(users=dict(PEOPLE))
    await fake.start()
    bench = StartBench(fake, tmp)
    try:
        await bench.start_once("fresh", tmp / "warm.db")  # warm the OS page cache for the imports; not counted
        bench.results.clear()
        for n in range(repeats):
            await bench.round(n)
    finally:
        await fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return bench.results


def summary(results: dict[str, list[Started]]) -> dict[str, float]:
    """Median seconds per kind, and the median idle RSS of the restarted server."""
    out = {kind: statistics.median(s.seconds for s in runs) for kind, runs in results.items()}
    out |= {f"{kind}_cpu": statistics.median(s.cpu for s in runs) for kind, runs in results.items()}
    out["rss_idle_mb"] = statistics.median(s.rss for s in results["restart"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the medians as JSON (bench/report.py)")
    args = parser.parse_args()
    results = asyncio.run(run(args.repeats))
    if args.json:
        Path(args.json).write_text(json.dumps(summary(results)))
    for kind in ("fresh", "restart", "bare"):
        each = ", ".join(f"{s.seconds:.2f}" for s in results[kind])
        cpu = statistics.median(s.cpu for s in results[kind])
        median = statistics.median(s.seconds for s in results[kind])
        print(f"{kind:8} start → /readyz 200: median {median:.2f} s ({each}); CPU used by then {cpu:.2f} s")
    print(f"idle RSS of trustbot serve after a restart: {summary(results)['rss_idle_mb']:.0f} MB")


if __name__ == "__main__":
    main()
