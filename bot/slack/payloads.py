"""Typed payloads carried by Slack: button values, modal `private_metadata`, form submissions.

Everything that travels through Slack and comes back is a pydantic model serialised with
`.model_dump_json()` and read with `.model_validate_json()` — never `split("-")`. Parsing a
tampered or stale value raises `pydantic.ValidationError`, which handlers treat as bad input.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trustbot.ids import Block, Element

# Ids are database keys, INTEGER columns: PostgreSQL holds 1..2^31-1 there (and refuses to even
# compare a larger parameter with them); anything else names nothing.
ID_MAX = 2**31 - 1
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


class OrgRef(_Payload):
    """Names one org (the Request access button of its Slack Connect channel)."""

    org_slug: str = Field(min_length=1, max_length=64)


class GrantRef(_Payload):
    """Names one grant (Revoke button, revoke-reason modal metadata)."""

    grant_id: Id


class HoldRef(_Payload):
    """Names one identity hold (the Confirm button)."""

    hold_id: Id


class AlertRef(_Payload):
    """Names one alert: every alert button's value and the suspend modal's metadata."""

    alert_id: Id


SnoozeHours = Literal[1, 4, 24]
SNOOZE_HOURS: tuple[SnoozeHours, ...] = (1, 4, 24)


class AlertSnooze(_Payload):
    """One option of an alert's **Snooze** select: the alert and for how long."""

    alert_id: Id
    hours: SnoozeHours


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
    group: str = ""  # an IdP group: its SCIM id (chosen from the list) or its name (typed, for long lists)
    tier_id: str = ""
    use_case: str = ""
    duration_days: int | None = None
    justification: str = ""
    submission_key: str | None = None  # Slack's view id: the same view submitted twice is one request


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _value(values: object, block: str, element: str) -> dict[str, Any]:
    """One input's state in `view.state.values`; anything malformed reads as left empty."""
    return _dict(_dict(_dict(values).get(block)).get(element))


def _strings(value: object) -> list[str]:
    return [typed(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def typed(text: object) -> str:
    """What a person typed, made storable: NUL and unpaired surrogates dropped (PostgreSQL refuses them)."""
    if not isinstance(text, str):
        return ""
    return "".join(c for c in text if c != "\x00" and not "\ud800" <= c <= "\udfff")


def view_input(view: dict[str, Any], block: str, element: str) -> dict[str, Any]:
    """One input's state in a submitted view; anything malformed reads as left empty."""
    return _value(_dict(view.get("state")).get("values"), block, element)


def typed_list(value: object) -> list[str]:
    """The texts in a selection (`selected_users`, …); anything else reads as nothing chosen."""
    return _strings(value)


def view_text(view: dict[str, Any], block: str, element: str) -> str:
    """The typed text of a plain-text input in a submitted view (empty when absent)."""
    return typed(_value(_dict(view.get("state")).get("values"), block, element).get("value")).strip()


def submission_from_view(view: dict[str, Any]) -> RequestSubmission:
    """Read a submitted request modal (`view` as Slack sends it) into a `RequestSubmission`."""
    values = _dict(view.get("state")).get("values")
    try:
        meta = RequestFormMeta.model_validate_json(typed(view.get("private_metadata")) or "{}")
    except ValidationError:  # tampered or stale: the org must then be chosen in the form
        meta = RequestFormMeta()
    org_state = _dict(_value(values, Block.ORG, Element.ORG).get("selected_option"))
    tier_state = _dict(_value(values, Block.TIER, Element.TIER).get("selected_option"))
    checked = _value(values, Block.BLANKET, Element.BLANKET).get("selected_options")
    group_state = _value(values, Block.GROUP, Element.GROUP)
    group = typed(_dict(group_state.get("selected_option")).get("value")) or typed(group_state.get("value")).strip()
    raw_duration = view_text(view, Block.DURATION, Element.DURATION)
    whole_days = raw_duration.isascii() and raw_duration.isdigit() and len(raw_duration) < 7
    duration = int(raw_duration) if whole_days else None
    return RequestSubmission(
        org_slug=typed(org_state.get("value")) or meta.org_slug or "",
        members=_strings(_value(values, Block.MEMBERS, Element.MEMBERS).get("selected_users")),
        blanket=bool(checked),
        group=group[:256],
        tier_id=typed(tier_state.get("value")),
        use_case=view_text(view, Block.USE_CASE, Element.USE_CASE),
        duration_days=duration,
        justification=view_text(view, Block.JUSTIFICATION, Element.JUSTIFICATION),
        submission_key=typed(view.get("id"))[:128] or None,
    )
