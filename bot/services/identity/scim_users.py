"""SCIM Users of one org: create, read, search, replace, patch and delete, each telling coverage what changed."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, Meta, PatchOp, User
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.identity.coverage import ChangeKind, CoverageChange, coverage_changed
from trustbot.services.identity.scim_common import Page, ScimError, filter_where, not_found
from trustbot.storage.queries import scim as q
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import ScimUser

UserModel = User[EnterpriseUser]


def _invalid(exc: ValidationError) -> ScimError:
    return ScimError(400, "; ".join(str(e.get("msg")) for e in exc.errors())[:500], "invalidValue")


def _parse(body: Any, ctx: Context) -> Any:
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    try:
        return UserModel.model_validate(body, scim_ctx=ctx)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _addresses(user: Any) -> list[str]:
    found = {str(e.value).lower() for e in (user.emails or []) if e.value}
    name = (user.user_name or "").lower()
    if "@" in name:
        found.add(name)
    return sorted(found)


def etag(version: int) -> str:
    """The weak ETag of a resource version."""
    return f'W/"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """A 412 when If-Match names another version."""
    if if_match and if_match.strip() != "*" and etag(version) not in [t.strip() for t in if_match.split(",")]:
        raise ScimError(412, "the resource changed since that version", None)


def _store(row: ScimUser, user: Any, ctx: ServiceContext, base_url: str) -> None:
    user.id = row.scim_id
    user.meta = Meta(
        resource_type="User",
        created=row.created_at,
        last_modified=ctx.now(),
        version=etag(row.version),
        location=f"{base_url}/Users/{row.scim_id}",
    )
    row.user_name, row.user_name_lc = user.user_name, user.user_name.lower()
    row.external_id = user.external_id
    row.display_name_lc = user.display_name.lower() if user.display_name else None
    row.active = user.active is not False
    row.updated_at = ctx.now()
    row.body = user.model_dump(mode="json", scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


async def _unique(session: AsyncSession, org: Org, user: Any, other_than: int | None) -> None:
    if not user.user_name:
        raise ScimError(400, "userName is required", "invalidValue")
    assert org.id is not None
    if await q.user_name_taken(session, org_id=org.id, user_name_lc=user.user_name.lower(), other_than=other_than):
        raise ScimError(409, "userName is already in use in this org", "uniqueness")


async def create_user(session: AsyncSession, ctx: ServiceContext, *, org: Org, body: Any, base_url: str) -> ScimUser:
    """Provision a user; the org's first one hands coverage to the IdP."""
    user = _parse(body, Context.RESOURCE_CREATION_REQUEST)
    await _unique(session, org, user, None)
    assert org.id is not None
    first = not await q.any_user(session, org_id=org.id)
    row = ScimUser(
        scim_id=str(uuid.uuid4()),
        org_id=org.id,
        user_name="",
        user_name_lc="",
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    _store(row, user, ctx, base_url)
    session.add(row)
    await session.flush()
    emails = _addresses(user)
    await q.set_addresses(session, user=row, emails=emails)
    changes = [CoverageChange(ChangeKind.PROVISIONED, emails=tuple(emails))]
    if first and org.scim_since is None:
        org.scim_since = ctx.now()
        changes.append(CoverageChange(ChangeKind.IDP_TOOK_OVER, everyone=True))
    await coverage_changed(session, ctx, org=org, changes=changes)
    await record_audit(
        session, ctx, action="scim.user_created", subject=f"scim_user:{row.scim_id}", details={"org": org.slug}
    )
    return row


async def get_user(session: AsyncSession, *, org: Org, scim_id: str) -> ScimUser:
    """The org's user, or a 404."""
    assert org.id is not None
    row = await q.get_user(session, org_id=org.id, scim_id=scim_id)
    if row is None:
        raise not_found("User")
    return row


async def search_users(
    session: AsyncSession, *, org: Org, filter_text: str | None, page: Page
) -> tuple[int, list[ScimUser]]:
    """The org's users matching the filter: total and one page."""
    assert org.id is not None
    where = filter_where(filter_text, users=True)
    return await q.search_users(session, org_id=org.id, where=where, offset=page.start - 1, limit=page.count)


async def _apply(
    session: AsyncSession, ctx: ServiceContext, org: Org, row: ScimUser, user: Any, base_url: str
) -> ScimUser:
    await _unique(session, org, user, row.id)
    assert row.id is not None
    old_emails = (await q.addresses_of(session, user_ids=[row.id])).get(row.id, [])
    was_active = row.active
    row.version += 1
    _store(row, user, ctx, base_url)
    emails = _addresses(user)
    changes: list[CoverageChange] = []
    if sorted(old_emails) != emails:
        await q.set_addresses(session, user=row, emails=emails)
        changes.append(CoverageChange(ChangeKind.ADDRESS_CHANGED, emails=tuple(sorted(set(old_emails) | set(emails)))))
    if was_active and not row.active:
        changes.append(CoverageChange(ChangeKind.DEACTIVATED, emails=tuple(emails)))
    elif row.active and not was_active:
        changes.append(CoverageChange(ChangeKind.REACTIVATED, emails=tuple(emails)))
    await coverage_changed(session, ctx, org=org, changes=changes)
    await record_audit(
        session,
        ctx,
        action="scim.user_updated",
        subject=f"scim_user:{row.scim_id}",
        details={"org": org.slug, "changes": [str(c.kind) for c in changes]},
    )
    await session.flush()
    return row


async def replace_user(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    org: Org,
    scim_id: str,
    body: Any,
    if_match: str | None,
    base_url: str,
) -> ScimUser:
    """Replace the user's attributes (PUT)."""
    row = await get_user(session, org=org, scim_id=scim_id)
    check_if_match(if_match, row.version)
    user = _parse(body, Context.RESOURCE_REPLACEMENT_REQUEST)
    return await _apply(session, ctx, org, row, user, base_url)


async def patch_user(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    org: Org,
    scim_id: str,
    body: Any,
    if_match: str | None,
    base_url: str,
) -> ScimUser:
    """Apply a PatchOp to a copy of the user, validate it, then store it: nothing half-applies."""
    row = await get_user(session, org=org, scim_id=scim_id)
    check_if_match(if_match, row.version)
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    try:
        op = PatchOp[UserModel].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        user = UserModel.model_validate(row.body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        op.patch(user)
        user = UserModel.model_validate(
            user.model_dump(mode="json", scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST),
            scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    except ScimError:
        raise
    except Exception as exc:  # the library's patch errors (bad path, no target) are the client's
        raise ScimError(400, str(exc)[:300] or "invalid patch", "invalidPath") from None
    return await _apply(session, ctx, org, row, user, base_url)


async def delete_user(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, scim_id: str, if_match: str | None
) -> None:
    """Deprovision the user."""
    row = await get_user(session, org=org, scim_id=scim_id)
    check_if_match(if_match, row.version)
    assert row.id is not None
    emails = (await q.addresses_of(session, user_ids=[row.id])).get(row.id, [])
    await q.delete_user(session, user=row)
    await coverage_changed(
        session, ctx, org=org, changes=[CoverageChange(ChangeKind.DEPROVISIONED, emails=tuple(emails))]
    )
    await record_audit(
        session, ctx, action="scim.user_deleted", subject=f"scim_user:{scim_id}", details={"org": org.slug}
    )
