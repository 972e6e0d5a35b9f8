"""`trustbot entitlements check EMAIL`: the answer `/v1/entitlements` gives, for operators.

Prints the same JSON object the API answers (same service). Exit codes: 0 entitled, 1 not
entitled (the reason is in the JSON and on stderr), 2 not an address, or the database is
unreachable or not migrated (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from trustbot.config import Settings

EXIT_ENTITLED, EXIT_NOT_ENTITLED, EXIT_PROBLEM = 0, 1, 2


def add_entitlements_parser(commands: Any, command: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    """Register `entitlements check EMAIL` (`command` makes a subcommand whose help says what it does)."""
    parser = command(commands, "entitlements", "who may use which capability tier (as the gateway asks)")
    actions = parser.add_subparsers(dest="entitlements_command", required=True, metavar="ACTION")
    check = command(actions, "check", "is EMAIL entitled now? exit 0 yes, 1 no, 2 bad address or database")
    check.add_argument("email", help="the address the gateway would ask about, e.g. dana@acme.com")


async def run_entitlements(settings: Settings, args: argparse.Namespace) -> int:
    """Answer `entitlements check EMAIL`."""
    from sqlalchemy.exc import SQLAlchemyError

    from trustbot.clock import SystemClock
    from trustbot.services.context import system_context
    from trustbot.services.entitlements.check import check_address
    from trustbot.services.errors import InvalidInput
    from trustbot.storage.database import Database
    from trustbot.storage.migrate import current_revision, revision_problem

    db = Database(settings.database_url)
    try:
        problem = revision_problem(await current_revision(db.engine))
        if problem is not None:
            print(f"trustbot: {problem}", file=sys.stderr)
            return EXIT_PROBLEM
        async with db.sessions() as session:
            answer = await check_address(session, system_context(SystemClock(), settings), email=args.email)
    except InvalidInput as error:
        print(f"trustbot: {error.message}", file=sys.stderr)
        return EXIT_PROBLEM
    except (SQLAlchemyError, OSError) as exc:
        print(f"trustbot: cannot read the database: {type(exc).__name__}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        await db.dispose()
    print(json.dumps(answer, indent=2))
    if not answer["entitled"]:
        print(f"not entitled: {answer['reason']}", file=sys.stderr)
        return EXIT_NOT_ENTITLED
    return EXIT_ENTITLED
