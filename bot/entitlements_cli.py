"""`trustbot entitlements check EMAIL`: the answer `/v1/entitlements` gives, for operators.

Prints the same JSON object the API answers (same service). Exit codes: 0 entitled, 1 not
entitled (the reason is in the JSON and on stderr), 2 not an address, or the database is
unreachable or not migrated (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.config import Settings

EXIT_ENTITLED, EXIT_NOT_ENTITLED, EXIT_PROBLEM = 0, 1, 2


def add_entitlements_parser(commands: Any) -> None:
    """Register `entitlements check EMAIL`."""
    parser = commands.add_parser("entitlements", help="who may use which capability tier (as the gateway asks)")
    actions = parser.add_subparsers(dest="entitlements_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="is EMAIL entitled now? exit 0 yes, 1 no, 2 bad address")
    check.add_argument("email")


async def run_entitlements(settings: Settings, args: argparse.Namespace) -> int:
    """Answer `entitlements check EMAIL`."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.clock import SystemClock
    from bot.services.context import system_context
    from bot.services.entitlements.check import check_address
    from bot.services.errors import InvalidInput
    from storage.database import Database
    from storage.migrate import current_revision, head_revision

    db = Database(settings.database_url)
    try:
        if await current_revision(db.engine) != head_revision():
            print("trustbot: the database is not migrated; run `trustbot db upgrade`", file=sys.stderr)
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
