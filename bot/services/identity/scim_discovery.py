"""ServiceProviderConfig, ResourceTypes and Schemas: what this SCIM service provider supports."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Patch,
    ResourceType,
    ServiceProviderConfig,
    Sort,
    User,
)

from trustbot.services.identity.scim_common import MAX_COUNT, ScimError

ENDPOINTS = ("ServiceProviderConfig", "ResourceTypes", "Schemas")
QUERY = Context.RESOURCE_QUERY_RESPONSE


def _config() -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="OAuth Bearer Token",
                description="The org's SCIM token, from `trustbot scim token ORG`",
                primary=True,
            )
        ],
    )
    return config.model_dump(mode="json", scim_ctx=QUERY)


def _resource_types(base_url: str) -> list[dict[str, Any]]:
    out = []
    for model in (User[EnterpriseUser], Group):
        rt = ResourceType.from_resource(model)
        body = rt.model_dump(mode="json", scim_ctx=QUERY)
        body.setdefault("meta", {}).update(
            {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{rt.id}"}
        )
        out.append(body)
    return out


def _schemas(base_url: str) -> list[dict[str, Any]]:
    out = []
    for model in (User, Group, EnterpriseUser):
        body = model.to_schema().model_dump(mode="json", scim_ctx=QUERY)
        if model is Group:
            _members_display_read_only(body)
        body.setdefault("meta", {}).update({"resourceType": "Schema", "location": f"{base_url}/Schemas/{body['id']}"})
        out.append(body)
    return out


def _members_display_read_only(schema: dict[str, Any]) -> None:
    """A member's `display` is the member's own name, set by the service (RFC 7643 §2.4: read-only)."""
    for attribute in schema.get("attributes", []):
        if attribute.get("name") == "members":
            for sub in attribute.get("subAttributes", []):
                if sub.get("name") == "display":
                    sub["mutability"] = "readOnly"


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


async def answer(kind: str, rid: str | None, base_url: str) -> tuple[int, Any, str | None]:
    """The discovery document asked for."""
    if kind == "ServiceProviderConfig":
        if rid is not None:
            raise ScimError(404, "no such endpoint")
        return 200, _config(), None
    items = _resource_types(base_url) if kind == "ResourceTypes" else _schemas(base_url)
    if rid is None:
        return 200, _listing(items), None
    for item in items:
        if item.get("id") == rid:
            return 200, item, None
    raise ScimError(404, f"{kind} {rid} not found")
