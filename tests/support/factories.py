"""Seeding for tests: the sample directory, requests and grants inserted directly, service contexts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.services.context import Person, ServiceContext, system_context
from trustbot.services.directory.apply import ApplyReport, apply_directory, parse_directory
from trustbot.standin.sample import ADMIN, DEV, DIRECTORY_YAML, EMAILS
from trustbot.storage.database import Database
from trustbot.storage.queries.directory import get_org
from trustbot.storage.queries.entitlements import add_members
from trustbot.storage.tables import AccessRequest, Grant, GrantStatus, RequestStatus


def settings(**overrides: Any) -> Settings:
    """Settings with defaults and no `.env`."""
    return Settings(_env_file=None, **overrides)


def system(clock: Clock, config: Settings | None = None, *, as_user: str | None = None) -> ServiceContext:
    """The context of a job, ingest or the CLI."""
    return system_context(clock, config or settings(), as_user=as_user)


async def acting(session: AsyncSession, user_id: str, clock: Clock, config: Settings | None = None) -> ServiceContext:
    """The context of `user_id` acting, resolved against the directory as a Slack request would be."""
    return await Person(user_id, clock, config or settings()).context(session)


async def seed_directory(
    db: Database, clock: Clock, yaml: str = DIRECTORY_YAML, *, actor: str = "test", config: Settings | None = None
) -> ApplyReport:
    """Apply a directory file (the sample one by default) as `actor`."""
    async with db.transaction() as session:
        return await apply_directory(session, system(clock, config, as_user=actor), parse_directory(yaml))


async def make_request(
    db: Database,
    clock: Clock,
    *,
    org: str = "acme",
    status: str = RequestStatus.PENDING,
    created_at: datetime | None = None,
    requester: str = ADMIN,
    tier: str = "standard",
    members: Sequence[str] = (DEV,),
    use_case: str = "Red-team our <!channel> product",
    blanket: bool = False,
) -> int:
    """Insert a request row directly; returns its id."""
    async with db.transaction() as session:
        org_row = await get_org(session, slug=org)
        assert org_row is not None and org_row.id is not None
        at = created_at or clock.now()
        request = AccessRequest(
            org_id=org_row.id,
            requester=requester,
            members=list(members),
            blanket=blanket,
            tier_id=tier,
            use_case=use_case,
            justification="x" * 30,
            duration_days=90,
            status=status,
            created_at=at,
            updated_at=at,
        )
        session.add(request)
        await session.flush()
        request.message_key = f"request:{request.id}"
        return request.id or 0


async def make_grant(
    db: Database,
    clock: Clock,
    *,
    org: str = "acme",
    due: timedelta = timedelta(days=3),
    expires: timedelta = timedelta(days=300),
    members: Sequence[str] = (DEV,),
    tier: str = "standard",
    status: str = GrantStatus.ACTIVE,
    suspended_reason: str | None = None,
    blanket: bool = False,
) -> int:
    """Insert an approved request and its grant, due and expiring relative to the clock; returns the grant id."""
    request_id = await make_request(
        db, clock, org=org, status=RequestStatus.APPROVED, members=members, tier=tier, blanket=blanket
    )
    async with db.transaction() as session:
        request = await session.get(AccessRequest, request_id)
        assert request is not None
        now = clock.now()
        grant = Grant(
            request_id=request_id,
            org_id=request.org_id,
            members=list(members),
            blanket=blanket,
            tier_id=tier,
            status=status,
            starts_at=now - timedelta(days=10),
            expires_at=now + expires,
            reverify_due_at=now + due,
            suspended_reason=suspended_reason,
            suspended_at=now if suspended_reason else None,
            updated_at=now,
        )
        session.add(grant)
        await session.flush()
        # Named members with the emails Slack shows for the sample people, as an approval records them.
        emails = {m: EMAILS[m] for m in members if m in EMAILS}
        await add_members(session, grant_id=grant.id or 0, emails=emails)
        return grant.id or 0
