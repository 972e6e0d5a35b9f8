"""Every benchmark of the performance targets in one run, and one table of the results.

Runs, one after the other, each as its own process (their own output is shown as they go):
`startup.py` (start to /readyz, idle memory), `ingest.py` (POST /alerts against a minimal handler),
`ack_latency.py` at 1, 10 and 50 concurrent (against a bare Bolt app) and `storm.py` (10 000 alerts,
one channel at Slack's pace). Every ratio compares Trustbot with its baseline measured in the same
bench, interleaved and repeated; the medians are reported. Then prints one Markdown table: metric,
measured, target, met. Sized to take about five minutes on 2 cores.

    .venv/bin/python bench/report.py [--only startup,ingest,ack,storm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# bench → its arguments here (smaller than each bench's defaults, to fit the whole run in ~5 minutes)
RUNS: dict[str, list[str]] = {
    "startup": ["startup.py", "--repeats", "3"],
    "ingest": ["ingest.py", "--singles", "1000", "--batches", "100", "--repeats", "5"],
    "ack": [
        "ack_latency.py",
        "--concurrency",
        "1,10,50",
        "--requests",
        "300",
        "--approvals",
        "100",
        "--repeats",
        "3",
        "--warmup",
        "30",
        "--drain-timeout",
        "0",
    ],  # fmt: skip
    "storm": ["storm.py", "--alerts", "10000", "--seconds", "30"],
}

Row = tuple[str, str, str, bool]


def run_bench(name: str, out: Path) -> tuple[Any, float]:
    """Run one bench with `--json out`; its parsed results and how long it took."""
    started = time.monotonic()
    argv = [sys.executable, str(HERE / RUNS[name][0]), *RUNS[name][1:], "--json", str(out)]
    print(f"\n## {name}: {' '.join(argv[1:])}", flush=True)
    subprocess.run(argv, cwd=HERE.parent, check=True)
    return json.loads(out.read_text()), time.monotonic() - started


def startup_rows(r: dict[str, float]) -> list[Row]:
    return [
        ("start → /readyz 200, restart (database at head)", f"{r['restart']:.2f} s (CPU {r['restart_cpu']:.2f} s)",
         "< 1.5 s", r["restart"] < 1.5),
        ("start → /readyz 200, fresh database (all migrations)", f"{r['fresh']:.2f} s (CPU {r['fresh_cpu']:.2f} s)",
         "< 1.5 s", r["fresh"] < 1.5),
        ("  for scale: bare Bolt app start → /readyz", f"{r['bare']:.2f} s", "", True),
        ("resident memory, idle after start", f"{r['rss_idle_mb']:.0f} MB", "< 200 MB", r["rss_idle_mb"] < 200),
    ]  # fmt: skip


def ingest_rows(results: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for r in results:
        label = "single-alert requests" if r["name"] == "single" else "batches of 100"
        each = ", ".join(f"{x:.0%}" for x in r["ratios"])
        measured = f"{r['ratio']:.0%} ({r['trustbot']['rate']:.0f} vs {r['minimal']['rate']:.0f} alerts/s; runs {each})"
        rows.append((f"ingest {label}: Trustbot / minimal handler", measured, "≥ 60 %", r["ratio"] >= 0.6))
        cpu = f"{r['trustbot']['cpu_ms']:.3f} vs {r['minimal']['cpu_ms']:.3f} ms"
        rows.append((f"  for scale: CPU per alert, Trustbot vs minimal ({label})", cpu, "", True))
    return rows


def ack_rows(results: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for r in results:
        what = f"ack `{'/trust help' if r['scenario'] == 'help' else 'Approve'}` at {r['concurrency']} concurrent"
        for key, label in (("p50", "p50"), ("p99", "p99")):
            ms = f"{r['real'][key]:.1f} vs {r['bare'][key]:.1f} ms"
            ratio = r[f"{key}_ratio"]
            rows.append((f"{what}: {label} / bare Bolt", f"{ratio:.2f}× ({ms})", "≤ 1.2×", ratio <= 1.2))
        ratio = r["throughput_ratio"]
        rate = f"{r['real']['throughput']:.0f} vs {r['bare']['throughput']:.0f}/s"
        rows.append((f"{what}: throughput / bare Bolt", f"{ratio:.0%} ({rate})", "≥ 80 %", ratio >= 0.8))
    return rows


def storm_rows(r: dict[str, Any]) -> list[Row]:
    return [
        ("10 000-alert storm: drain after the last alert / Slack's pace", f"{r['ratio']:.2f}× ({r['drain']:.0f} s vs "
         f"{r['floor']:.0f} s; {r['429']} writes answered 429)", "≤ 1.1×", r["ratio"] <= 1.1 and r["ok"]),
        ("resident memory after the storm (upper bound: bench process)", f"{r['rss_mb']:.0f} MB", "< 200 MB",
         r["rss_mb"] < 200),
    ]  # fmt: skip


ROWS: dict[str, Callable[[Any], list[Row]]] = {
    "startup": startup_rows,
    "ingest": ingest_rows,
    "ack": ack_rows,
    "storm": storm_rows,
}


def print_table(rows: list[Row]) -> None:
    print("\n| metric | measured | target | met? |\n| --- | --- | --- | --- |")
    for metric, measured, target, met in rows:
        print(f"| {metric} | {measured} | {target} | {('yes' if met else '**no**') if target else ''} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(RUNS), help="comma-separated benches (default: all)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="trustbot-report-"))
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    rows: list[Row] = []
    took: dict[str, float] = {}
    for name in args.only.split(","):
        result, took[name] = run_bench(name, tmp / f"{name}.json")
        rows += ROWS[name](result)
    print_table(rows)
    print(
        f"\n{time.monotonic() - started:.0f} s in all ({', '.join(f'{k} {v:.0f} s' for k, v in took.items())}); "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs"
    )
    return 0 if all(met for _, _, target, met in rows if target) else 1


if __name__ == "__main__":
    sys.exit(main())
