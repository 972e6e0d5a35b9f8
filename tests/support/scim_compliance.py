"""The scim2-tester compliance checker against a live `trustbot serve` on 127.0.0.1.

Run as `python -m tests.support.scim_compliance` (`.ci/run` does): it starts the Slack stand-in, a child
`trustbot serve` on a fresh SQLite file with the sample directory, issues acme's SCIM token with the CLI,
runs every check and prints each that did not succeed (`--all`: every check) and the count by status.
It exits 1 when a check finds an ERROR or CRITICAL.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.drill_runtime import serve_process
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import PEOPLE

if TYPE_CHECKING:
    from scim2_tester import CheckResult

FAILING = {"ERROR", "CRITICAL"}


def run_checks(base_url: str, token: str) -> list[CheckResult]:
    """Every scim2-tester check against the SCIM service at `base_url` (synchronous; httpx2)."""
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    with Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        scim = SyncSCIMClient(http)
        return check_server(scim, raise_exceptions=False)


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The checks that found a MUST violated or a security problem."""
    return [result for result in results if result.status.name in FAILING]


def describe(result: CheckResult) -> str:
    """One line: status, resource type, title, reason."""
    where = f"[{result.resource_type}] " if result.resource_type else ""
    reason = f" — {result.reason}" if result.reason else ""
    return f"{result.status.name:<10} {where}{result.title}{reason}"


async def against_live_serve(workdir: Path) -> list[CheckResult]:
    """Start the stand-in Slack and `trustbot serve`, issue acme's token, run the checks, stop both."""
    slack = FakeSlack(users=dict(PEOPLE))
    await slack.start()
    server = serve_process(f"sqlite+aiosqlite:///{workdir / 'scim.db'}", slack, workdir)
    try:
        await server.start()
        token = subprocess.run(
            [sys.executable, "-m", "trustbot", "scim", "token", "acme"],
            env=server.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        base = f"http://127.0.0.1:{server.port}/scim/v2"
        return await asyncio.to_thread(run_checks, base, token)
    finally:
        await server.stop()
        await slack.stop()


def main() -> int:
    """Print every check and return 1 if any failed."""
    with tempfile.TemporaryDirectory(prefix="trustbot-scim-") as tmp:
        results = asyncio.run(against_live_serve(Path(tmp)))
    for result in results:
        if "--all" in sys.argv or result.status.name != "SUCCESS":
            print(describe(result))
    bad = failures(results)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
    print("scim2-tester:", ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
