"""Failure drills at full size: every drill of `tests.support.drills`, one table.

Each drill runs on a fresh database (a new SQLite file, or the PostgreSQL database given, its schema
dropped and migrated again before every drill) against the fake Slack on 127.0.0.1, and prints
expected (outbox rows that post: post, reply, dm), delivered (exactly one Slack message each,
showing its newest edit), of those how many in the home workspace and in acme's (every drill runs
with both, acme's installed through OAuth), lost, duplicated, out of order (per thread and per lane)
and seconds.

    .venv/bin/python bench/drills.py [--quick] [--database-url postgresql+asyncpg://…] [--only 429,down]

Exit code 0 when every drill delivered every message exactly once and in order.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

import repo_root  # noqa: F401  (the repository root on sys.path, for tests.support)

HEADER = (
    "drill",
    "database",
    "expected",
    "delivered",
    "home",
    "acme",
    "lost",
    "duplicated",
    "out of order",
    "seconds",
)


def row(result: object) -> tuple[str, ...]:
    """One table row of a `DrillResult`."""
    from tests.support.drill_workspaces import ACME_TEAM, HOME_TEAM
    from tests.support.drills import DrillResult

    assert isinstance(result, DrillResult)
    if result.tally is None:
        return (result.name, result.database, "skipped", *([""] * (len(HEADER) - 3)))
    t = result.tally
    by_workspace = (t.delivered_in(HOME_TEAM), t.delivered_in(ACME_TEAM))
    counts = (t.expected, t.delivered, *by_workspace, t.lost, t.duplicated, t.out_of_order)
    return (result.name, result.database, *(str(n) for n in counts), f"{result.seconds:.1f}")


def table(rows: list[tuple[str, ...]]) -> str:
    """A Markdown table, numbers right-aligned."""
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(cells: tuple[str, ...]) -> str:
        padded = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join("-" * w if i < 2 else "-" * (w - 1) + ":" for i, w in enumerate(widths)) + " |"
    return "\n".join([line(HEADER), rule, *(line(r) for r in rows)])


async def run_all(args: argparse.Namespace) -> int:
    from tests.support.drill_runtime import fresh_database, is_postgres
    from tests.support.drills import DRILLS, run_drill

    names = args.only.split(",") if args.only else [d.name for d in DRILLS]
    if args.database_url and not is_postgres(args.database_url):
        raise SystemExit("--database-url must be a postgresql+asyncpg:// URL (SQLite is the default)")
    workdir = Path(tempfile.mkdtemp(prefix="trustbot-drills-"))
    results = []
    for name in names:
        url = await fresh_database(args.database_url, workdir, name)
        result = await run_drill(name, url, workdir / name, quick=args.quick, seed=args.seed)
        results.append(result)
        print(f"  {name}: {'skipped' if result.tally is None else 'clean' if result.clean else 'PROBLEM'} "
              f"({result.seconds:.1f}s)", flush=True)  # fmt: skip
    print()
    print(table([row(r) for r in results]))
    print()
    for result in results:
        for line in ([result.skipped] if result.skipped else []) + (
            [*result.tally.notes, *(f"PROBLEM: {p}" for p in result.tally.problems)] if result.tally else []
        ):
            print(f"- {result.name}: {line}")
    print(f"\n(logs of child processes in {workdir})")
    return 0 if all(r.clean for r in results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short versions (as tests/test_drills.py runs them)")
    parser.add_argument("--database-url", help="PostgreSQL to run on (emptied before each drill); default SQLite")
    parser.add_argument("--only", help="comma-separated drill names")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="show Trustbot's warnings (retries, give-ups)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL)
    raise SystemExit(asyncio.run(run_all(args)))


if __name__ == "__main__":
    main()
