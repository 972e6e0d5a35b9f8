"""Single-use install links and the OAuth states issued for them; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.errors import InvalidInput, NotAuthorized, NotFound
from trustbot.storage.queries import installs as q
from trustbot.storage.queries.directory import get_org

# How long Slack's consent screen may take between the visit of a link and the callback.
STATE_MINUTES = 10
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")


class InstallRefused(Exception):
    """An install link or OAuth state that is unknown, expired or used; the message says what to do."""


def digest(token: str) -> str:
    """The stored form of a link or state token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _may_issue(ctx: ServiceContext) -> bool:
    # The CLI and Trustbot itself act as no Slack user; a Slack user must be an operator.
    return ctx.actor.is_operator or not SLACK_USER.fullmatch(ctx.user_id)


async def issue_install_link(session: AsyncSession, ctx: ServiceContext, *, org_slug: str) -> str:
    """A new single-use install link token for an org (expires after TRUSTBOT_INSTALL_LINK_DAYS), audited."""
    if not _may_issue(ctx):
        raise NotAuthorized("only operators can issue install links")
    missing = ctx.settings.missing_for_installs()
    if missing:
        raise InvalidInput(f"customer workspace installs are not configured: set {', '.join(missing)}")
    org = await get_org(session, slug=org_slug)
    if org is None:
        raise NotFound(f"unknown org {org_slug!r}")
    token = secrets.token_urlsafe(32)
    expires_at = ctx.now() + timedelta(days=ctx.settings.install_link_days)
    await q.add_link(
        session, token_hash=digest(token), org_id=org.pk, created_by=ctx.user_id, at=ctx.now(), expires_at=expires_at
    )
    details = {"expires_at": expires_at.isoformat(), "slack_team": org.slack_team}
    await record_audit(session, ctx, action="install_link.issued", subject=f"org:{org.slug}", details=details)
    return token


async def issue_state(session: AsyncSession, ctx: ServiceContext, *, link_token: str | None) -> str:
    """A new OAuth state for one visit of an install link; `InstallRefused` when the link cannot be used."""
    if not link_token:
        raise InstallRefused("Trustbot is installed through a link from your Trustbot contact; ask them for one.")
    link = await q.usable_link(session, token_hash=digest(link_token), at=ctx.now())
    if link is None:
        raise InstallRefused(
            "This install link is unknown, expired or already used; ask your Trustbot contact for a new one."
        )
    state = secrets.token_urlsafe(32)
    expires_at = ctx.now() + timedelta(minutes=STATE_MINUTES)
    await q.add_state(session, state_hash=digest(state), link_hash=link.token_hash, expires_at=expires_at)
    return state


async def consume_state(session: AsyncSession, ctx: ServiceContext, *, state: str) -> bool:
    """Use up a state and its link at once; False when either is unknown, expired or used (forged or replayed)."""
    link_hash = await q.consume_state(session, state_hash=digest(state), at=ctx.now())
    if link_hash is None:
        return False
    return await q.use_link(session, token_hash=link_hash, at=ctx.now()) is not None


async def org_of_state(session: AsyncSession, *, state: str) -> int | None:
    """The org whose link a consumed state was issued for."""
    return await q.org_of_consumed_state(session, state_hash=digest(state))
