"""`POST /alerts` and `POST /usage`: signed, size-capped, strictly validated, idempotent by `id`.

Checks run cheapest-first and each has its own status: 503 no secret configured, 413 body over
1 MiB or batch over 500 items, 401 bad/missing signature (v0, or the path-bound v1: see
`trustbot.slack.signing`) or timestamp outside ±5 minutes,
415 not `application/json`, 400 not parseable JSON, 422 an item fails validation (the answer
names the item index and field; nothing of the batch is stored). 202 is sent only after the
transaction committed. The signature window uses the wall clock, like Slack's own signatures,
so moving the domain clock (tests, `jobs run --now`) never locks producers out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from trustbot.log_sampling import SampledWarning
from trustbot.logs import log_context
from trustbot.runtime import Runtime
from trustbot.services.alerts.ingest import AlertIn, IngestResult, ingest_alert_requests
from trustbot.services.context import system_context
from trustbot.services.credits.ingest import UsageConflict, UsageIn, UsageRejected, UsageResult, ingest_usage
from trustbot.slack.signing import ingest_problem

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1024 * 1024
MAX_ITEMS = 500
GROUP_MAX_ITEMS = 2000  # items per group-commit transaction


@dataclass(frozen=True)
class BodyShape(Generic[M]):
    """What one endpoint takes: its items' model, the batch key, and the other endpoint's key and fields.

    The two shapes are kept apart: a body carrying the other endpoint's batch key, or an item with a
    field only the other endpoint's items have, is refused (422) even when signed, so no body is ever
    both a valid alert batch and a valid usage batch (a v0 signature does not say which path it was for).
    """

    model: type[M]
    key: str
    noun: str
    other_key: str
    other_fields: frozenset[str]


_ALERT_FIELDS, _USAGE_FIELDS = frozenset(AlertIn.model_fields), frozenset(UsageIn.model_fields)
ALERTS = BodyShape(AlertIn, "alerts", "alert", "usage", _USAGE_FIELDS - _ALERT_FIELDS)
USAGE = BodyShape(UsageIn, "usage", "usage record", "alerts", _ALERT_FIELDS - _USAGE_FIELDS)


class GroupCommit:
    """Runs concurrent ingest requests in shared transactions (group commit).

    While one transaction runs, requests arriving meanwhile queue up and the next transaction
    takes them all, so under load the per-transaction cost is paid once per group instead of
    once per request, and SQLite writers never fight over the lock. Nothing waits for company:
    an idle server commits a lone request at once. Every request still gets its 202 only
    after the transaction holding its items committed. If a shared transaction fails, its
    requests are retried one by one so one request's failure is never another's.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._queue: list[tuple[list[AlertIn], asyncio.Future[IngestResult]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: list[AlertIn]) -> IngestResult:
        """Queue one request's items; return its result once committed."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="trustbot-ingest")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            group: list[tuple[list[AlertIn], asyncio.Future[IngestResult]]] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0][0]) <= GROUP_MAX_ITEMS):
                entry = self._queue.pop(0)
                group.append(entry)
                size += len(entry[0])
            try:
                results = await self._commit([items for items, _ in group])
            except Exception as exc:
                if len(group) == 1:
                    with log_context(items=_ids(group[0][0])):
                        log.exception("alert ingest failed")
                    _settle(group[0][1], exc)
                    continue
                for items, future in group:
                    try:
                        _settle(future, (await self._commit([items]))[0])
                    except Exception as single_exc:
                        with log_context(items=_ids(items)):
                            log.exception("alert ingest failed")
                        _settle(future, single_exc)
                continue
            for (_, future), result in zip(group, results, strict=True):
                _settle(future, result)

    async def _commit(self, requests: list[list[AlertIn]]) -> list[IngestResult]:
        async with self.rt.db.transaction() as session:
            return await ingest_alert_requests(session, system_context(self.rt.clock, self.rt.settings), requests)


def _ids(items: list[AlertIn]) -> list[str]:
    """The producer's ids of a request's alerts, for its log lines (the drain task logs for many requests)."""
    return [item.id for item in items]


def _settle(future: asyncio.Future[IngestResult], result: IngestResult | BaseException) -> None:
    """Hand a request its result, or the exception its transaction failed with (once: later answers are dropped)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _error(status: int, error: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, **({"message": error} | extra)}, status=status)


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _raw_items(
    body: bytes, key: str, noun: str, other_key: str | None = None
) -> tuple[list[Any] | None, web.Response | None]:
    """The batch as decoded JSON (one object, or the list under `key`), or the 400/413/422 answer saying why not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, an integer past Python's 4,300 digits
        return None, _error(400, f"body is not valid JSON: {str(exc)[:200]}")
    if not isinstance(data, dict):
        article = "an" if noun[0] in "aeiou" else "a"
        message = f'must be {article} {noun} object or {{"{key}": [...]}}'
        return None, _error(422, "invalid", item=None, field="body", message=message)
    if other_key is not None and other_key in data:
        message = f"{other_key} are posted to /{other_key}, not here"
        return None, _error(422, "invalid", item=None, field=other_key, message=message)
    if key not in data:
        return [data], None
    raw = data[key]
    if not isinstance(raw, list):
        return None, _error(422, "invalid", item=None, field=key, message=f"must be a list of {noun}s")
    if len(raw) > MAX_ITEMS:
        return None, _error(413, f"at most {MAX_ITEMS} {noun}s per request (got {len(raw)})")
    return raw, None


def _validated(
    raw: list[Any], model: type[M], shape: BodyShape[M] | None = None
) -> tuple[list[M], list[dict[str, Any]]]:
    """Each entry as `model`, and the problems of those that are not (at most 20 are collected)."""
    items: list[M] = []
    problems: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.append({"item": index, "field": "item", "message": "must be a JSON object"})
        elif shape is not None and (foreign := sorted(shape.other_fields.intersection(entry))):
            message = f"is a field of what is posted to /{shape.other_key}, not of {shape.noun}s"
            problems.append({"item": index, "field": foreign[0], "message": message})
        else:
            try:
                items.append(model.model_validate(entry))
            except ValidationError as exc:
                for err in exc.errors()[:5]:
                    field = ".".join(str(part) for part in err["loc"]) or "item"
                    problems.append({"item": index, "field": field, "message": err["msg"]})
        if len(problems) >= 20:
            break
    return items, problems


def parse_items(
    body: bytes, model: type[M], key: str, noun: str, *, shape: BodyShape[M] | None = None
) -> tuple[list[M] | None, web.Response | None]:
    """Items (`model`, one object or `{key: [...]}`) of a verified body, or the 400/413/422 answer saying why not.

    With `shape`, a body or item of the other endpoint's shape is refused too."""
    raw, refusal = _raw_items(body, key, noun, shape.other_key if shape else None)
    if raw is None:
        return None, refusal
    items, problems = _validated(raw, model, shape)
    if not problems:
        return items, None
    first = problems[0]
    return None, _error(
        422,
        "invalid",
        item=first["item"],
        field=first["field"],
        message=f"item {first['item']}, field {first['field']}: {first['message']}",
        errors=problems,
    )


async def checked_items(
    rt: Runtime, request: web.Request, shape: BodyShape[M], unsigned: SampledWarning
) -> tuple[list[M] | None, web.Response | None]:
    """The checks every ingest endpoint shares, cheapest first (503, 413, 401, 415, 400/422)."""
    secret = rt.settings.ingest_secret
    if secret is None or not secret.get_secret_value():
        return None, _error(503, "ingest is disabled: TRUSTBOT_INGEST_SECRET is not set")
    body = await read_body(request)
    if body is None:
        return None, _error(413, f"body larger than {MAX_BODY} bytes")
    headers = request.headers
    problem = ingest_problem(
        secret.get_secret_value(),
        headers.get("X-Trustbot-Timestamp"),
        headers.get("X-Trustbot-Signature"),
        request.path,
        body,
        require_path=rt.settings.ingest_require_path_signature,
    )
    if problem:
        unsigned.warn("refused an unsigned request on %s from %s: %s", request.path, request.remote, problem)
        return None, _error(401, problem)
    if request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        # The signature covers the bytes as sent; compressed bodies are refused, never inflated.
        return None, _error(415, "Content-Encoding is not accepted; send the JSON uncompressed")
    if request.content_type != "application/json":
        return None, _error(415, "Content-Type must be application/json")
    return parse_items(body, shape.model, shape.key, shape.noun, shape=shape)


def _count(rt: Runtime, kind: str, result: IngestResult | UsageResult) -> None:
    rt.metrics.ingested.labels(kind, "accepted").inc(result.accepted)
    rt.metrics.ingested.labels(kind, "duplicate").inc(result.duplicates)


def register_ingest_routes(app: web.Application, rt: Runtime) -> None:
    """Mount `POST /alerts` and `POST /usage`."""
    group_commit = GroupCommit(rt)
    unsigned = SampledWarning(log)  # anyone can send these: a flood logs a line a minute, not one each

    async def post_alerts(request: web.Request) -> web.Response:
        items, refusal = await checked_items(rt, request, ALERTS, unsigned)
        if refusal is not None:
            return refusal
        result = await group_commit.submit(items or [])
        _count(rt, "alert", result)
        return web.json_response({"accepted": result.accepted, "duplicates": result.duplicates}, status=202)

    async def post_usage(request: web.Request) -> web.Response:
        items, refusal = await checked_items(rt, request, USAGE, unsigned)
        if refusal is not None:
            return refusal
        try:
            async with rt.db.transaction() as session:  # usage is low-volume: one transaction per request
                result = await ingest_usage(session, system_context(rt.clock, rt.settings), items or [])
        except UsageConflict as conflict:
            return _error(409, "conflict", item=conflict.item, id=conflict.usage_id, message=str(conflict))
        except UsageRejected as rejected:
            return _error(
                422,
                "invalid",
                item=rejected.item,
                field=rejected.field,
                message=str(rejected),
                errors=[{"item": rejected.item, "field": rejected.field, "message": rejected.message}],
            )
        _count(rt, "usage", result)
        return web.json_response({"accepted": result.accepted, "duplicates": result.duplicates}, status=202)

    app.router.add_post("/alerts", post_alerts)
    app.router.add_post("/usage", post_usage)
