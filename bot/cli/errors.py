"""The one place where a failure an operator can fix (a setting, the database, a file, Slack) becomes one
line on stderr and exit code 2 instead of a traceback."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

EXIT_USAGE = 2


class CliError(Exception):
    """A one-line problem reported on stderr with exit code 2."""


def safe_url(url: str) -> str:
    """The database URL as shown to operators: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def first_line(exc: BaseException) -> str:
    """The driver's own reason (not SQLAlchemy's wrapper and its links), on one line."""
    reason = getattr(exc, "orig", None) or exc
    text = str(reason).strip().splitlines()
    return (text[0] if text else "") or type(reason).__name__


async def check_database(url: str) -> None:
    """Connect once, so an unreachable database is one line naming it before any command starts its work."""
    from trustbot.storage.database import Database

    db = Database(url)
    try:
        await db.ping()
    except (SQLAlchemyError, OSError) as exc:
        # After a failed connect aiosqlite stops its worker thread without waiting for it; let the thread
        # finish before `asyncio.run` closes the loop, or it prints a traceback of its own.
        await asyncio.sleep(0.1)
        raise CliError(f"cannot reach the database at DATABASE_URL {safe_url(url)}: {first_line(exc)}") from None
    finally:
        await db.dispose()


def one_line(exc: BaseException, database_url: str) -> str | None:
    """The line that reports `exc` to an operator, or None when it is a bug (left to its traceback)."""
    from slack_sdk.errors import SlackApiError

    from trustbot.config import SettingsError
    from trustbot.services.audit import AuditKeyMissing
    from trustbot.slack.preflight import SlackUnavailable
    from trustbot.storage.migrate import UnknownRevision
    from trustbot.web.server import ListenError

    if isinstance(exc, CliError | SettingsError | SlackUnavailable | AuditKeyMissing | UnknownRevision | ListenError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"the database at DATABASE_URL {safe_url(database_url)} failed: {first_line(exc)}"
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        return f"Slack refused a call: {error}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"cannot start: {where}{exc.strerror or first_line(exc)}"
    return None
