"""Logging: `text` or `json` lines (TRUSTBOT_LOG_FORMAT), our level (TRUSTBOT_LOG_LEVEL), libraries quiet.

The Slack request or ingest batch being handled is kept in a context variable: a Bolt middleware binds
the payload's fields (`bind_log_context`) inside the `log_context()` scope of its dispatch, and the ingest
endpoints name their items (`log_context`), so every line logged while handling it — in the listener's
own task too, since tasks copy the context they start in — names the team, user, action or items.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# Libraries whose INFO lines are noise to an operator (start banners, every migration context, every
# Bolt dispatch): WARNING unless TRUSTBOT_LOG_LEVEL=DEBUG.
LIBRARIES = (
    "slack_bolt",
    "slack_sdk",
    "trustbot.bolt",
    "aiohttp",
    "alembic",
    "apscheduler",
    "asyncio",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "urllib3",
    "websockets",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: ContextVar[dict[str, Any] | None] = ContextVar("trustbot_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (None values dropped) to every line logged in this block and in tasks it starts."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v not in (None, "", [])}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Make `fields` (None values dropped) the context of the rest of this task: for a Bolt middleware, which
    returns before its listeners run (Bolt calls them after the whole chain), so a `with` block would not reach them.
    The caller of the dispatch scopes it with an empty `log_context()`."""
    _context.set({k: v for k, v in fields.items() if v not in (None, "", [])})


def current_context() -> dict[str, Any]:
    """The fields `log_context` set for the code running now."""
    return dict(_context.get() or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's context, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "trustbot_context", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trustbot_context = current_context()
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a line is logged (as `logging.lastResort` does)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "text") -> logging.Handler:
    """Log to stderr in `fmt` (text or json); ours at `level`, libraries at WARNING unless DEBUG."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)  # configured once more (tests call `main` many times): replace, never stack
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    return handler


class DropBoltTokenWarning(logging.Filter):
    """Bolt warns that its `token` is unused whenever SLACK_BOT_TOKEN is set and a client is given; ours is
    that very token, already in the client, so the warning is wrong for Trustbot and only alarms operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for exactly that warning."""
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_TOKEN_WARNING = DropBoltTokenWarning()
