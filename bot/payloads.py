"""Typed payloads carried by Slack: button values, modal `private_metadata`, form submissions.

Everything that travels through Slack and comes back is a pydantic model serialised with
`.model_dump_json()` and read with `.model_validate_json()` — never `split("-")`. Parsing a
tampered or stale value raises `pydantic.ValidationError`, which handlers treat as bad input.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bot.ids import Block, Element

# Ids are database keys: PostgreSQL's BIGINT holds 1..2^63-1; anything else names nothing.
ID_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=ID_MAX)]


def parse_id(text: str) -> int | None:
    """An id typed by a person (`12` or `#12`, ASCII digits only), or None when it is not one."""
    raw = text.strip().removeprefix("#")
    if not raw or len(raw) > 19 or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 1 <= value <= ID_MAX else None


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestRef(_Payload):
    """Names one access request (decision buttons, the Reply button, modal metadata)."""

    request_id: Id


class GrantRef(_Payload):
    """Names one grant (Revoke button, revoke-reason modal metadata)."""

    grant_id: Id


class AlertRef(_Payload):
    """Names one alert: every alert button's value and the suspend modal's metadata."""

    alert_id: Id


class DecisionContext(_Payload):
    """Metadata of the deny/request-info modals: the request decided on."""

    request_id: Id


class RequestFormMeta(_Payload):
    """Metadata of the request modal: the org when the admin has exactly one."""

    org_slug: str | None = None


class RequestSubmission(BaseModel):
    """What the request modal submitted; the service validates every field."""

    model_config = ConfigDict(extra="ignore")

    org_slug: str = ""
    members: list[str] = Field(default_factory=list)
    blanket: bool = False
    tier_id: str = ""
    use_case: str = ""
    duration_days: int | None = None
    justification: str = ""


def _value(values: dict[str, Any], block: str, element: str) -> dict[str, Any]:
    return (values.get(block) or {}).get(element) or {}


def view_text(view: dict[str, Any], block: str, element: str) -> str:
    """The typed text of a plain-text input in a submitted view (empty when absent)."""
    return (_value(view.get("state", {}).get("values", {}), block, element).get("value") or "").strip()


def submission_from_view(view: dict[str, Any]) -> RequestSubmission:
    """Read a submitted request modal (`view` as Slack sends it) into a `RequestSubmission`."""
    values = view.get("state", {}).get("values", {})
    meta = RequestFormMeta.model_validate_json(view.get("private_metadata") or "{}")
    org_state = _value(values, Block.ORG, Element.ORG).get("selected_option") or {}
    tier_state = _value(values, Block.TIER, Element.TIER).get("selected_option") or {}
    checked = _value(values, Block.BLANKET, Element.BLANKET).get("selected_options") or []
    raw_duration = (_value(values, Block.DURATION, Element.DURATION).get("value") or "").strip()
    try:
        duration: int | None = int(raw_duration)
    except ValueError:
        duration = None
    return RequestSubmission(
        org_slug=org_state.get("value") or meta.org_slug or "",
        members=list(_value(values, Block.MEMBERS, Element.MEMBERS).get("selected_users") or []),
        blanket=bool(checked),
        tier_id=tier_state.get("value") or "",
        use_case=(_value(values, Block.USE_CASE, Element.USE_CASE).get("value") or "").strip(),
        duration_days=duration,
        justification=(_value(values, Block.JUSTIFICATION, Element.JUSTIFICATION).get("value") or "").strip(),
    )
