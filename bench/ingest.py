"""Ingest throughput: `POST /alerts` on a running Trustbot vs a minimal handler, same run.

The minimal handler only verifies the signature, parses the JSON and inserts the items into the
same kind of database (SQLite in WAL mode through the same engine setup, or PostgreSQL) — the
floor any real ingest pays. Trustbot additionally validates strictly, groups by fingerprint,
renders Slack messages and queues them in the outbox, in one transaction per request.

Each server runs in its own process, so the load generator never competes with it for the
event loop. Prints alerts/s, p50/p99 latency, each server's CPU time per alert (steadier than
rates on a shared machine) and Trustbot/minimal ratios.

Both servers are loaded `--repeats` times, alternating which goes first; the ratio printed is the
median of the per-repeat ratios.

    .venv/bin/python bench/ingest.py [--singles 2000] [--batches 100] [--concurrency 8] [--repeats 3]
                                     [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from common import ACME_DIRECTORY, start_trustbot

SECRET = "bench-ingest-secret"
# acme, plus a second org for a third of the alerts.
DIRECTORY = ACME_DIRECTORY + (
    "  - {slug: globex, name: Globex, domains: [globex.example], rep: U0REP2, admins: [U0GLX1], "
    "verified_until: 2027-06-30}\n"
)


# -- a Slack stand-in that accepts every write (delivery runs during the bench, as in production)


async def _stub_slack() -> tuple[Any, str]:
    from aiohttp import web

    counter = iter(range(1, 10**9))

    async def api(request: web.Request) -> web.Response:
        body = await request.json() if request.content_type == "application/json" else {}
        return web.json_response(
            {"ok": True, "channel": body.get("channel", "C0"), "ts": f"1700000000.{next(counter):06d}"}
        )

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/api/"


# -- the two servers ---------------------------------------------------------------------------


async def _serve_trustbot(url: str, ready: Any) -> None:
    runner, api_url = await _stub_slack()
    server = await start_trustbot(
        api_url=api_url,
        database_url=url,
        ingest_secret=SECRET,
        directory=DIRECTORY,
        token="xoxb-bench",
        TRUSTBOT_LOG_LEVEL="WARNING",
    )
    ready.send(server.url)
    await asyncio.Event().wait()


async def _serve_minimal(url: str, ready: Any) -> None:
    from aiohttp import web
    from sqlalchemy import Column, DateTime, MetaData, String, Table, Text
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from trustbot.handlers.ingest import read_body
    from trustbot.slack.signing import v0_problem
    from trustbot.storage.database import Database

    db = Database(url)
    table = Table(
        "minimal_alert",
        MetaData(),
        Column("id", String(128), primary_key=True),
        Column("body", Text),
        Column("received_at", DateTime(timezone=True)),
    )
    async with db.engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    from datetime import datetime

    async def handler(request: web.Request) -> web.Response:
        body = await read_body(request)
        if body is None or v0_problem(
            SECRET, request.headers.get("X-Trustbot-Timestamp"), request.headers.get("X-Trustbot-Signature"), body
        ):
            return web.json_response({"error": "no"}, status=401)
        data = json.loads(body)
        items = data["alerts"] if isinstance(data, dict) and "alerts" in data else [data]
        now = datetime.now(UTC)
        rows = [{"id": i["id"], "body": json.dumps(i), "received_at": now} for i in items]
        async with db.transaction() as session:
            await session.execute(insert(table).on_conflict_do_nothing(index_elements=["id"]), rows)
        return web.json_response({"accepted": len(rows), "duplicates": 0}, status=202)

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/alerts", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.send(f"http://127.0.0.1:{runner.addresses[0][1]}")
    await asyncio.Event().wait()


def _child(kind: str, url: str, ready: Any) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_serve_trustbot(url, ready) if kind == "trustbot" else _serve_minimal(url, ready))


def start_server(kind: str, url: str) -> tuple[mp.Process, str]:
    """Run one server in its own process; return it and its base URL."""
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_child, args=(kind, url, child), daemon=True)
    process.start()
    if not parent.poll(120):
        raise SystemExit(f"{kind} server did not start")
    return process, parent.recv()


# -- load --------------------------------------------------------------------------------------


def make_items(prefix: str, count: int, start: int) -> list[dict[str, Any]]:
    """Alerts over 50 fingerprints in two orgs, mostly medium/high, like a busy monitoring feed."""
    severities = ["low", "medium", "medium", "high", "critical"]
    return [
        {
            "id": f"{prefix}-{start + i}",
            "org": "acme" if (start + i) % 3 else "globex",
            "signal": f"signal-{(start + i) % 10}",
            "severity": severities[(start + i) % 5],
            "summary": f"Suspicious activity number {start + i}",
            "occurred_at": "2026-11-02T08:59:00Z",
            "actor": f"user{(start + i) % 5}@acme.com",
            "score": 0.8,
            "evidence_url": "https://monitor.example/e/1",
        }
        for i in range(count)
    ]


async def load(base: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """POST every body (signed) with `concurrency` workers; return seconds, latencies, failures."""
    import aiohttp

    from trustbot.standin.producers import ingest_headers as sign

    latencies: list[float] = []
    failures = 0
    queue = list(reversed(bodies))

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal failures
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with http.post(f"{base}/alerts", data=body, headers=sign(SECRET, body)) as response:
                await response.read()
                if response.status != 202:
                    failures += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def scenario(
    name: str,
    bases: dict[str, str],
    pids: dict[str, int],
    make: Any,
    alerts_per_body: int,
    concurrency: int,
    repeats: int,
) -> dict[str, Any]:
    """Run the same load against both servers, `repeats` times, alternating which goes first (warm-up first).

    Each repeat gives a pair of runs close in time; the ratio reported is the median of the pairs'
    ratios, so a burst of other work on the machine weighs on one pair rather than on one server.
    """
    out: dict[str, Any] = {"name": name, "ratios": []}
    kinds = list(bases)
    for kind, base in bases.items():
        await load(base, make(f"warm-{kind}-{name}", 20), concurrency)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for repeat in range(repeats):
        for kind in kinds if repeat % 2 == 0 else reversed(kinds):
            bodies = make(f"{kind}-{name}-{repeat}", None)
            cpu_before = cpu_seconds(pids[kind])
            seconds, latencies, failures = await load(bases[kind], bodies, concurrency)
            cpu = cpu_seconds(pids[kind]) - cpu_before
            runs[kind].append(
                {
                    "rate": len(bodies) * alerts_per_body / seconds,
                    "p50": pct(latencies, 0.5),
                    "p99": pct(latencies, 0.99),
                    "failures": failures,
                    "cpu_ms": cpu * 1000 / (len(bodies) * alerts_per_body),
                }
            )
        out["ratios"].append(runs["trustbot"][-1]["rate"] / runs["minimal"][-1]["rate"])
    for kind in kinds:
        out[kind] = {
            key: statistics.median(run[key] for run in runs[kind]) for key in ("rate", "p50", "p99", "cpu_ms")
        } | {"failures": sum(run["failures"] for run in runs[kind])}
    out["ratio"] = statistics.median(out["ratios"])
    return out


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The table of rates, latencies, CPU per alert and ratios; `--json` also writes them."""
    db_kind = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"ingest bench on {db_kind}, concurrency {args.concurrency}, cpu {os.cpu_count()}, "
        f"median of {args.repeats} interleaved runs"
    )
    print(
        f"{'scenario':<10} {'server':<9} {'alerts/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'fail':>5} {'CPU ms/alert':>13}"
    )
    for result in results:
        for kind in ("trustbot", "minimal"):
            r = result[kind]
            print(
                f"{result['name']:<10} {kind:<9} {r['rate']:>10.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                f"{r['failures']:>5} {r['cpu_ms']:>13.3f}"
            )
        each = ", ".join(f"{r:.0%}" for r in result["ratios"])
        print(f"{result['name']:<10} ratio     {result['ratio']:>10.0%} ({each})")
    if args.json:
        Path(args.json).write_text(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--singles", type=int, default=2000, help="single-alert requests")
    parser.add_argument("--batches", type=int, default=100, help="requests of 100 alerts")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per scenario and server")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON (bench/report.py)")
    parser.add_argument("--database-url", help="PostgreSQL URL prefix for two databases (default: SQLite files)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="trustbot-bench-"))
    if args.database_url:
        urls = {"trustbot": args.database_url, "minimal": args.database_url}
    else:
        urls = {
            "trustbot": f"sqlite+aiosqlite:///{tmp / 'trustbot.db'}",
            "minimal": f"sqlite+aiosqlite:///{tmp / 'minimal.db'}",
        }
    procs = {}
    bases = {}
    for kind in ("trustbot", "minimal"):
        procs[kind], bases[kind] = start_server(kind, urls[kind])

    pids = {kind: int(process.pid or 0) for kind, process in procs.items()}

    def singles(prefix: str, n: int | None) -> list[bytes]:
        return [json.dumps(item).encode() for item in make_items(prefix, n or args.singles, 0)]

    def batches(prefix: str, n: int | None) -> list[bytes]:
        return [json.dumps({"alerts": make_items(prefix, 100, b * 100)}).encode() for b in range(n or args.batches)]

    async def run() -> list[dict[str, Any]]:
        return [
            await scenario("single", bases, pids, singles, 1, args.concurrency, args.repeats),
            await scenario("batch-100", bases, pids, batches, 100, args.concurrency, args.repeats),
        ]

    try:
        results = asyncio.run(run())
    finally:
        for process in procs.values():
            process.terminate()
    print_results(results, args)


if __name__ == "__main__":
    main()
