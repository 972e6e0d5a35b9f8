"""Shared by the access-request service tests: the sample directory's people (plus a globex-only backup
rep), a valid submission, and running a service as someone in its own transaction, as Slack would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from tests.support.factories import acting, seed_directory
from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.services.access.decisions import approve_request
from trustbot.services.access.requests import submit_request
from trustbot.services.context import ServiceContext
from trustbot.slack.payloads import RequestSubmission
from trustbot.standin.sample import ADMIN, DEV, DEV2, DIRECTORY_YAML, sample_profiles
from trustbot.storage.database import Database
from trustbot.storage.tables import AccessRequest, AuditEvent, Grant, OutboxMessage

T = TypeVar("T")
GLXREP = "U0GLXR"
JUSTIFICATION = "Red-team our own products before the release; reviewed by CISO."
REP_ONLY = "Only the org's account reps or operators can"

# The sample directory plus a backup rep who is a rep of globex only (U0REP2 is also acme's backup rep).
_GLOBEX_REP = "    rep: U0REP2\n    admins: [U0GLX1]\n"
assert _GLOBEX_REP in DIRECTORY_YAML
YAML = DIRECTORY_YAML.replace(_GLOBEX_REP, f"    rep: U0REP2\n    backup_reps: [{GLXREP}]\n    admins: [U0GLX1]\n")


async def seed(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, YAML)


def sub(**overrides: Any) -> RequestSubmission:
    values: dict[str, Any] = dict(
        org_slug="acme",
        members=[DEV, DEV2],
        blanket=False,
        tier_id="standard",
        use_case="Pen-testing our SaaS",
        duration_days=100,
        justification=JUSTIFICATION,
    )
    values.update(overrides)
    return RequestSubmission(**values)


async def call(
    db: Database,
    clock: FixedClock,
    user: str,
    service: Callable[..., Awaitable[T]],
    *,
    config: Settings | None = None,
    **kwargs: Any,
) -> T:
    """Run one service as `user` in its own transaction, as a Slack request would.

    A request submission or approval gets what Slack would show for the sample people (the handler looks
    them up).
    """
    if service is submit_request or service is approve_request:
        kwargs.setdefault("profiles", sample_profiles())
    async with db.transaction() as s:
        return await service(s, await acting(s, user, clock, config), **kwargs)


async def ctx(s: AsyncSession, user: str, clock: FixedClock) -> ServiceContext:
    return await acting(s, user, clock)


async def submit(db: Database, clock: FixedClock, user: str = ADMIN, **overrides: Any) -> int:
    result = await call(db, clock, user, submit_request, submission=sub(**overrides))
    assert result.request.id is not None
    return result.request.id


async def outbox(db: Database, *, confirmations: bool = False) -> list[OutboxMessage]:
    """Queued writes in order; the requester's "is submitted" DM is left out unless asked for."""
    async with db.sessions() as s:
        rows = list((await s.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())
    return [r for r in rows if confirmations or "is submitted" not in r.payload.get("text", "")]


async def count(db: Database, table: type[SQLModel]) -> int:
    async with db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def request_row(db: Database, request_id: int) -> AccessRequest:
    async with db.sessions() as s:
        row = await s.get(AccessRequest, request_id)
        assert row is not None
        return row


async def grants(db: Database) -> list[Grant]:
    async with db.sessions() as s:
        return list((await s.scalars(select(Grant).order_by(col(Grant.id)))).all())


async def audits(db: Database) -> list[str]:
    async with db.sessions() as s:
        return list((await s.scalars(select(col(AuditEvent.action)).order_by(col(AuditEvent.id)))).all())


def ops(rows: list[OutboxMessage]) -> list[tuple[str, str, str | None]]:
    return [(r.op, r.channel, r.message_key or r.save_as) for r in rows]
