"""SCIM Groups of one org: their members are the org's SCIM users; changes tell coverage who joined or left."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Group, PatchOp
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.identity.coverage import ChangeKind, CoverageChange, coverage_changed
from trustbot.services.identity.scim_common import Page, ScimError, filter_where, not_found
from trustbot.services.identity.scim_users import check_if_match, etag
from trustbot.storage.queries import scim as q
from trustbot.storage.queries.identity import forget_group
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import ScimGroup

MEMBER_FILTER = re.compile(r'^members\[value eq "([^"]+)"\]$', re.IGNORECASE)


def _body(group: ScimGroup, members: list[tuple[int, str, str]], base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": group.scim_id,
        "displayName": group.display_name,
        # No member `display`: it is optional and read-only (RFC 7643 §2.4), and an IdP that PATCHes members
        # compares what it sent with what it gets back.
        "members": [{"value": sid, "type": "User", "$ref": f"{base_url}/Users/{sid}"} for _, sid, _ in members],
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.isoformat(),
            "lastModified": group.updated_at.isoformat(),
            "version": etag(group.version),
            "location": f"{base_url}/Groups/{group.scim_id}",
        },
    }
    if group.external_id is not None:
        body["externalId"] = group.external_id
    return body


def _parse(body: Any, ctx: Context) -> Group:
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    try:
        group = Group.model_validate(body, scim_ctx=ctx)
    except ValidationError as exc:
        raise ScimError(400, "; ".join(str(e.get("msg")) for e in exc.errors())[:500], "invalidValue") from None
    if not group.display_name:
        raise ScimError(400, "displayName is required", "invalidValue")
    return group


async def _user_ids(session: AsyncSession, org: Org, values: list[Any]) -> dict[int, str]:
    """Member values (SCIM ids) as the org's user pks; another org's or an unknown id is a 400."""
    assert org.id is not None
    ids = [str(v.get("value") if isinstance(v, dict) else getattr(v, "value", v)) for v in values]
    found = await q.users_by_scim_ids(session, org_id=org.id, scim_ids=ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ScimError(400, f"no such user: {missing[0][:64]}", "invalidValue")
    return {u.id: u.scim_id for u in found.values() if u.id is not None}


async def _set_members(
    session: AsyncSession, ctx: ServiceContext, org: Org, group: ScimGroup, old: set[int], new: set[int]
) -> dict[str, int]:
    assert group.id is not None
    joined, left = sorted(new - old), sorted(old - new)
    await q.add_members(session, group_id=group.id, user_ids=joined)
    await q.remove_members(session, group_id=group.id, user_ids=left)
    addresses = await q.addresses_of(session, user_ids=joined + left)
    changes = []
    if joined:
        changes.append(
            CoverageChange(
                ChangeKind.JOINED_GROUP,
                emails=tuple(e for u in joined for e in addresses.get(u, [])),
                group_ids=(group.id,),
            )
        )
    if left:
        changes.append(
            CoverageChange(
                ChangeKind.LEFT_GROUP,
                emails=tuple(e for u in left for e in addresses.get(u, [])),
                group_ids=(group.id,),
            )
        )
    await coverage_changed(session, ctx, org=org, changes=changes)
    return {"joined": len(joined), "left": len(left)}


async def create_group(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, body: Any, base_url: str
) -> tuple[dict[str, Any], int]:
    """Create a group with its members."""
    group = _parse(body, Context.RESOURCE_CREATION_REQUEST)
    members = await _user_ids(session, org, list(group.members or []))
    assert org.id is not None and group.display_name is not None
    row = ScimGroup(
        scim_id=str(uuid.uuid4()),
        org_id=org.id,
        display_name=group.display_name,
        display_name_lc=group.display_name.lower(),
        external_id=group.external_id,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    session.add(row)
    await session.flush()
    counts = await _set_members(session, ctx, org, row, set(), set(members))
    await record_audit(
        session, ctx, action="scim.group_created", subject=f"org:{org.slug}", details={"group": row.scim_id, **counts}
    )
    return await read_group(session, org=org, scim_id=row.scim_id, base_url=base_url)


async def _get(session: AsyncSession, org: Org, scim_id: str) -> ScimGroup:
    assert org.id is not None
    row = await q.get_group(session, org_id=org.id, scim_id=scim_id)
    if row is None:
        raise not_found("Group")
    return row


async def read_group(session: AsyncSession, *, org: Org, scim_id: str, base_url: str) -> tuple[dict[str, Any], int]:
    """The group as SCIM JSON, and its version."""
    row = await _get(session, org, scim_id)
    assert row.id is not None
    return _body(row, await q.member_rows(session, group_id=row.id), base_url), row.version


async def search_groups(
    session: AsyncSession, *, org: Org, filter_text: str | None, page: Page, base_url: str
) -> tuple[int, list[dict[str, Any]]]:
    """The org's groups matching the filter: total and one page as SCIM JSON."""
    assert org.id is not None
    where = filter_where(filter_text, users=False)
    total, rows = await q.search_groups(session, org_id=org.id, where=where, offset=page.start - 1, limit=page.count)
    return total, [_body(r, await q.member_rows(session, group_id=r.id or 0), base_url) for r in rows]


def _strict_form(body: dict[str, Any]) -> dict[str, Any]:
    """The PatchOp without the values Entra puts on a `remove` of `members` (RFC 7644 has none there)."""
    ops = body.get("Operations")
    if not isinstance(ops, list):
        return body
    plain = [
        {k: v for k, v in op.items() if k != "value"}
        if isinstance(op, dict) and str(op.get("op", "")).lower() == "remove"
        else op
        for op in ops
    ]
    return {**body, "Operations": plain}


def _patch_members(kind: str, path: str, value: Any, members: dict[str, None]) -> None:
    match = MEMBER_FILTER.match(path)
    if match:
        if kind != "remove":
            raise ScimError(400, f"cannot {kind} {path}", "invalidPath")
        members.pop(match.group(1), None)
        return
    values = [str(v.get("value")) for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    if kind == "replace" or (kind == "remove" and not value):
        members.clear()
    for v in values:
        if kind == "remove":
            members.pop(v, None)
        else:
            members[v] = None


def _patched(ops: list[dict[str, Any]], state: dict[str, Any], members: dict[str, None]) -> None:
    """Apply raw PatchOp operations to the group's attributes and member ids (a copy: the caller stores it)."""
    for op in ops:
        kind, path, value = str(op.get("op", "")).lower(), op.get("path"), op.get("value")
        if path is None:
            if kind not in ("add", "replace") or not isinstance(value, dict):
                raise ScimError(400, "an operation without a path needs an object value", "invalidValue")
            for key, item in value.items():
                _patched([{"op": kind, "path": key, "value": item}], state, members)
            continue
        if MEMBER_FILTER.match(str(path)) or str(path).lower() == "members":
            _patch_members(kind, str(path), value, members)
        elif str(path).lower() in ("displayname", "externalid") and kind in ("add", "replace", "remove"):
            if kind != "remove" and not isinstance(value, str):
                raise ScimError(400, f"{path} must be a string", "invalidValue")
            state[str(path).lower()] = None if kind == "remove" else value
        else:
            raise ScimError(400, f"cannot {kind} {path}", "invalidPath")


async def change_group(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    org: Org,
    scim_id: str,
    body: Any,
    patch: bool,
    if_match: str | None,
    base_url: str,
) -> tuple[dict[str, Any], int]:
    """Replace (PUT) or patch the group; only the resulting member difference is written."""
    row = await _get(session, org, scim_id)
    check_if_match(if_match, row.version)
    assert row.id is not None
    old = {uid: sid for uid, sid, _ in await q.member_rows(session, group_id=row.id)}
    if patch:
        if not isinstance(body, dict):
            raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
        try:
            PatchOp[Group].model_validate(_strict_form(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        except ValidationError as exc:
            raise ScimError(400, "; ".join(str(e.get("msg")) for e in exc.errors())[:500], "invalidValue") from None
        state: dict[str, Any] = {"displayname": row.display_name, "externalid": row.external_id}
        member_ids = dict.fromkeys(old.values())
        _patched(list(body.get("Operations") or []), state, member_ids)
        if not state["displayname"]:
            raise ScimError(400, "displayName is required", "invalidValue")
        name, external, wanted = state["displayname"], state["externalid"], list(member_ids)
    else:
        group = _parse(body, Context.RESOURCE_REPLACEMENT_REQUEST)
        name, external, wanted = (
            group.display_name,
            group.external_id,
            [m.value for m in group.members or [] if m.value],
        )
    new = await _user_ids(session, org, wanted)
    row.display_name, row.display_name_lc, row.external_id = name, str(name).lower(), external
    row.version += 1
    row.updated_at = ctx.now()
    counts = await _set_members(session, ctx, org, row, set(old), set(new))
    await record_audit(
        session,
        ctx,
        action="scim.group_members_changed",
        subject=f"org:{org.slug}",
        details={"group": scim_id, **counts},
    )
    await session.flush()
    return await read_group(session, org=org, scim_id=scim_id, base_url=base_url)


async def delete_group(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, scim_id: str, if_match: str | None
) -> None:
    """Delete the group."""
    row = await _get(session, org, scim_id)
    check_if_match(if_match, row.version)
    group_id = row.pk
    # Grants covering the group cover nobody through it from now on; they keep their named and blanket scope.
    grants = await forget_group(session, group_id=group_id)
    gone = CoverageChange(ChangeKind.GROUP_DELETED, grant_ids=tuple(grants), detail=row.display_name)
    await q.delete_group(session, group=row)
    await coverage_changed(session, ctx, org=org, changes=[gone])
    await record_audit(session, ctx, action="scim.group_deleted", subject=f"org:{org.slug}", details={"group": scim_id})
