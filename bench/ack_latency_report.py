"""`bench/ack_latency.py`: what it prints (each round, the table, the run's summary) and `--dump`."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ack_latency_load import Round
    from ack_latency_servers import Drain

TARGET_LATENCY_RATIO = 1.2  # p50 and p99, real/bare
TARGET_THROUGHPUT_RATIO = 0.8  # real/bare


def print_round(repeat: int, r: Round) -> None:
    extra = f", post-ack done {r.post_ack:.2f} s" if r.post_ack is not None else ""
    bad = {k: v for k, v in r.statuses.items() if k != 200}
    print(
        f"  c={r.concurrency:<3} round {repeat + 1} {r.scenario:7} {r.target:4}: n={len(r.latencies)} "
        f"p50 {r.pct(0.5):6.1f} ms p99 {r.pct(0.99):6.1f} ms max {max(r.latencies) * 1000:6.1f} ms "
        f"{r.throughput:6.0f}/s{extra}{f'  NON-200: {bad}' if bad else ''}",
        flush=True,
    )


def ratios(rounds: list[Round]) -> list[dict[str, Any]]:
    """Per concurrency and scenario: the medians per target over the rounds, and the real/bare ratios."""
    out = []
    for level in sorted({r.concurrency for r in rounds}):
        for scenario in ("help", "approve"):
            row: dict[str, Any] = {"concurrency": level, "scenario": scenario}
            for target in ("bare", "real"):
                mine = [r for r in rounds if (r.concurrency, r.scenario, r.target) == (level, scenario, target)]
                row[target] = {
                    "p50": statistics.median(r.pct(0.5) for r in mine),
                    "p99": statistics.median(r.pct(0.99) for r in mine),
                    "throughput": statistics.median(r.throughput for r in mine),
                    "requests": len(mine[0].latencies),
                    "non200": sum(v for r in mine for k, v in r.statuses.items() if k != 200),
                }
            for key in ("p50", "p99", "throughput"):
                row[f"{key}_ratio"] = row["real"][key] / row["bare"][key]
            out.append(row)
    return out


def print_table(rounds: list[Round], args: argparse.Namespace) -> None:
    print(f"\nack latency, median of {args.repeats} rounds per target (ratios real/bare)\n")
    print(
        f"| concurrency | scenario | bare p50 / p99 ms | trustbot p50 / p99 ms | p50 ratio | p99 ratio "
        f"(≤ {TARGET_LATENCY_RATIO}×) | throughput bare / trustbot | ratio (≥ {TARGET_THROUGHPUT_RATIO:.0%}) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in ratios(rounds):
        bare, real = row["bare"], row["real"]
        errors = sum(t["non200"] for t in (bare, real))
        print(
            f"| {row['concurrency']} | {row['scenario']}{f' ({errors} non-200)' if errors else ''} | "
            f"{bare['p50']:.1f} / {bare['p99']:.1f} | {real['p50']:.1f} / {real['p99']:.1f} | "
            f"{row['p50_ratio']:.2f}× | {row['p99_ratio']:.2f}× | "
            f"{bare['throughput']:.0f} / {real['throughput']:.0f}/s | {row['throughput_ratio']:.0%} |"
        )


def write_json(path: str, rounds: list[Round]) -> None:
    """`--json`: the ratios per concurrency and scenario, for bench/report.py."""
    Path(path).write_text(json.dumps(ratios(rounds)))


def print_summary(
    rounds: list[Round], args: argparse.Namespace, load_before: float, grants: int, drain: Drain, writes: int
) -> None:
    """After the table: machine load, grants made, approval rate, and the outbox drain (or a projection)."""
    print(
        f"\nload average (1 min) before the rounds {load_before:.2f}, after {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs — other work on the machine shows up as noise in both targets"
    )
    approvals_real = args.warmup + args.repeats * args.approvals * len(args.levels)
    print(f"\ngrants created by the real server: {grants} (approvals clicked: {approvals_real})")
    posts = [r.post_ack for r in rounds if r.post_ack is not None]
    if posts:
        print(
            f"real approve rounds: last approval committed+answered {statistics.median(posts):.2f} s "
            f"(median) after the round started ({args.approvals / statistics.median(posts):.0f} approvals/s)"
        )
    print(
        f"outbox after the last round: {drain.start_pending} Slack writes pending "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(drain.pending.items(), key=lambda kv: -kv[1]))})"
    )
    if drain.drained is not None:
        print(f"drain time: {drain.drained:.1f} s after the last round ({writes} Slack writes since warm-up)")
    else:
        delivered_n = drain.start_pending - sum(drain.left.values())
        rate = delivered_n / drain.waited if drain.waited else 0.0
        pace_s = args.pace if args.pace is not None else 1.0
        busiest = max(drain.left.values(), default=0)
        print(
            f"drain: not finished after {drain.waited:.0f} s; {delivered_n} delivered ({rate:.1f}/s), "
            f"{sum(drain.left.values())} left, busiest lane {busiest} rows → ≈{busiest * pace_s / 60:.0f} min more "
            f"at {pace_s:g} s per write per channel"
        )


def write_dump(path: str, rounds: list[Round]) -> None:
    """`--dump`: one JSON line per round with every request's send time and latency."""
    Path(path).write_text(
        "".join(
            json.dumps(
                {
                    "round": i,
                    "scenario": r.scenario,
                    "target": r.target,
                    "post_ack": r.post_ack,
                    "starts": r.starts,
                    "latencies": r.latencies,
                }
            )
            + "\n"
            for i, r in enumerate(rounds)
        )
    )
