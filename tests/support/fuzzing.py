"""Fuzzing a running Trustbot: one check per surface, and a hypothesis runner shared by the suite and
`bench/fuzz.py`.

A check sends one generated input and returns what went wrong (empty when nothing did): a 5xx, a
partial batch (rows stored although the batch was refused, or fewer than it accepted), or an error
or traceback in the log. Hypothesis runs in a worker thread and hands each input to the bot's event
loop, so one running bot serves every example.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support import fuzz_strategies as fs
from tests.support import queries as inspection
from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.services.context import system_context
from trustbot.services.directory.apply import apply_directory, parse_directory
from trustbot.services.errors import DirectoryError
from trustbot.standin.producers import ingest_headers
from trustbot.standin.slack_requests import (
    FORM,
    block_actions_body,
    sign_request,
    slash_command_body,
    view_submission_body,
)
from trustbot.storage.database import Database
from trustbot.storage.tables import Alert, UsageRecord


class LogWatch(logging.Handler):
    """Collects log records that reveal an unhandled failure: ERROR and above, or any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in message:
            self.bad.append(f"{record.levelname} {record.name}: {message[:200]}")

    def take(self) -> list[str]:
        """The records seen since the last call."""
        found, self.bad = self.bad, []
        return found


@dataclass
class FuzzTarget:
    """A running bot as the checks see it: where to send, how to sign, how to wait and what to count."""

    url: str
    db: Database
    signing_secret: str
    ingest_secret: str
    fake: Any
    settle: Callable[[], Awaitable[None]]
    clock: Clock
    config: Settings
    logs: LogWatch = field(default_factory=LogWatch)
    _http: aiohttp.ClientSession | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the status (the body is read and dropped)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._http.post(self.url + path, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()

    async def count(self, table: Any) -> int:
        """Rows in `table`."""
        async with self.db.sessions() as session:
            return await inspection.count_rows(session, table=table)


def _items(value: Any, key: str) -> int | None:
    """How many items a body holds when it has the shape of a batch or of one item."""
    if isinstance(value, dict) and isinstance(value.get(key), list) and len(value) == 1:
        return len(value[key])
    return 1 if isinstance(value, dict) else None


async def _ingest(target: FuzzTarget, path: str, table: Any, key: str, value: Any) -> list[str]:
    raw = json.dumps(value).encode()
    before = await target.count(table)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    async with http, http.post(target.url + path, data=raw, headers=ingest_headers(target.ingest_secret, raw)) as r:
        status, text = r.status, await r.text()
    stored = await target.count(table) - before
    problems = [f"{path} answered {status}"] if status >= 500 else []
    if status == 202:
        answer = json.loads(text)
        if stored != answer["accepted"] or answer["accepted"] + answer["duplicates"] != _items(value, key):
            problems.append(f"{path} 202 {answer} but {stored} rows stored")
    elif stored:
        problems.append(f"{path} answered {status} yet stored {stored} rows (a partial batch)")
    await target.settle()
    return problems + target.logs.take()


async def check_alerts(target: FuzzTarget, value: Any) -> list[str]:
    """`/alerts` with a signed JSON body."""
    return await _ingest(target, "/alerts", Alert, "alerts", value)


async def check_usage(target: FuzzTarget, value: Any) -> list[str]:
    """`/usage` with a signed JSON body."""
    return await _ingest(target, "/usage", UsageRecord, "usage", value)


def _mangled(body: bytes, mangle: tuple[str, Any] | None) -> bytes:
    """The interactive payload in `body` with one top-level key replaced (`state` goes into the view)."""
    if mangle is None:
        return body
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    key, value = mangle
    if key == "state" and isinstance(payload.get("view"), dict):
        payload["view"]["state"] = value
    else:
        payload[key] = value
    return urlencode({"payload": json.dumps(payload)}).encode()


async def _slack(target: FuzzTarget, body: bytes, content_type: str = FORM) -> list[str]:
    headers = {**sign_request(target.signing_secret, body), "Content-Type": content_type}
    status = await target.post("/slack/events", body, headers)
    await target.settle()
    return ([f"/slack/events answered {status}"] if status >= 500 else []) + target.logs.take()


async def check_command(target: FuzzTarget, value: dict[str, Any]) -> list[str]:
    """A Slack-signed slash command with arbitrary text."""
    user = value["user"]
    body = slash_command_body(
        text=value["text"],
        user_id=user,
        command=value["command"],
        response_url=target.fake.new_response_url(user, "C0GENERAL"),
        trigger_id=target.fake.new_trigger_id(user),
    )
    return await _slack(target, body)


async def check_block_action(target: FuzzTarget, value: dict[str, Any]) -> list[str]:
    """A Slack-signed click with arbitrary action id, value, user and team."""
    user, in_view = value["user"], value["in_view"]
    body = block_actions_body(
        user_id=user,
        action_id=value["action_id"],
        value=value["value"],
        team_id=value["team"],
        channel_id=None if in_view else "C0REPS",
        message_ts=None if in_view else "1.000001",
        view={"id": "V0FUZZ", "type": "modal", "blocks": []} if in_view else None,
        trigger_id=target.fake.new_trigger_id(user),
        response_url=None if in_view else target.fake.new_response_url(user, "C0REPS", "1.000001"),
    )
    return await _slack(target, _mangled(body, value["mangle"]))


async def check_view_submission(target: FuzzTarget, value: dict[str, Any]) -> list[str]:
    """A Slack-signed modal submission with arbitrary callback id, metadata and state."""
    view = {
        "id": value["view_id"],
        "type": "modal",
        "callback_id": value["callback_id"],
        "private_metadata": value["private_metadata"],
        "blocks": [],
    }
    body = view_submission_body(user_id=value["user"], view=view, values=value["values"], team_id=value["team"])
    return await _slack(target, _mangled(body, value["mangle"]))


async def check_event(target: FuzzTarget, value: dict[str, Any]) -> list[str]:
    """A Slack-signed Events API body of arbitrary shape."""
    body = {
        "token": "unused",
        "team_id": value["team"],
        "api_app_id": "A0APP",
        "type": value["type"],
        "event": value["event"],
        "event_id": value["event_id"] or f"Ev{uuid.uuid4().hex[:10]}",
        "event_time": 1,
        "challenge": "c",
    }
    return await _slack(target, json.dumps(body).encode(), "application/json")


async def check_directory(target: FuzzTarget, text: str) -> list[str]:
    """A directory file: a `DirectoryError` or a valid file that applies (rolled back), nothing else."""
    try:
        directory = parse_directory(text)
    except DirectoryError:
        return []
    except Exception as exc:  # the finding itself
        return [f"parse_directory raised {type(exc).__name__}: {str(exc)[:200]}"]
    async with target.db.sessions() as session:
        try:
            await apply_directory(session, system_context(target.clock, target.config, as_user="fuzz"), directory)
        except DirectoryError:
            pass
        except Exception as exc:  # the finding itself
            return [f"apply_directory raised {type(exc).__name__}: {str(exc)[:200]}"]
        finally:
            await session.rollback()
    return target.logs.take()


Check = Callable[[FuzzTarget, Any], Coroutine[Any, Any, list[str]]]
SURFACES: dict[str, tuple[st.SearchStrategy[Any], Check]] = {
    "alerts": (fs.ALERT_BODY, check_alerts),
    "usage": (fs.USAGE_BODY, check_usage),
    "slash commands": (fs.COMMAND, check_command),
    "block actions": (fs.BLOCK_ACTION, check_block_action),
    "view submissions": (fs.VIEW_SUBMISSION, check_view_submission),
    "events": (fs.EVENT, check_event),
    "directory file": (fs.DIRECTORY_TEXT, check_directory),
}


@dataclass
class SurfaceResult:
    """How many inputs one surface was given and what went wrong."""

    surface: str
    tried: int = 0
    failures: list[tuple[str, list[str]]] = field(default_factory=list)


def run_surface(
    target: FuzzTarget, loop: asyncio.AbstractEventLoop, surface: str, examples: int, *, collect: bool = False
) -> SurfaceResult:
    """Run `examples` inputs against `surface` from a worker thread (the bot runs in `loop`).

    Raises on the first failure (hypothesis shrinks it) unless `collect`, which records every
    failure and carries on, as the bench does.
    """
    strategy, check = SURFACES[surface]
    result = SurfaceResult(surface)
    phases = (Phase.generate,) if collect else (Phase.generate, Phase.shrink)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=phases,
        derandomize=not collect,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def one(value: Any) -> None:
        result.tried += 1
        try:
            problems = asyncio.run_coroutine_threadsafe(check(target, value), loop).result(timeout=120)
        except Exception as exc:  # the check itself broke (or timed out): a finding too, never a silent stop
            if not collect:
                raise
            problems = [f"the check raised {type(exc).__name__}: {str(exc)[:200]}"]
        if problems and collect:
            result.failures.append((repr(value)[:300], problems))
        elif problems:
            raise AssertionError(f"{surface}: {problems} for {value!r}")

    one()
    return result
