"""What Slack submits for a modal's inputs: `view.state.values`, built from the view and the values typed."""

from __future__ import annotations

from typing import Any


def _option_text(element: dict[str, Any], value: str) -> dict[str, Any]:
    for option in element.get("options") or []:
        if option.get("value") == value:
            return option.get("text") or {"type": "plain_text", "text": value}
    for group in element.get("option_groups") or []:
        for option in group.get("options") or []:
            if option.get("value") == value:
                return option.get("text") or {"type": "plain_text", "text": value}
    return {"type": "plain_text", "text": value}


def _option(element: dict[str, Any], value: Any) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    return {"value": str(value), "text": _option_text(element, str(value))}


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The `state.values` entry Slack would send for `element` holding `value` (None: left empty)."""
    kind = element.get("type", "plain_text_input")
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        return {"type": kind, "value": _text(value)}
    if kind in ("multi_users_select", "multi_conversations_select", "multi_channels_select"):
        key = {
            "multi_users_select": "selected_users",
            "multi_conversations_select": "selected_conversations",
            "multi_channels_select": "selected_channels",
        }[kind]
        return {"type": kind, key: list(value or [])}
    if kind in ("users_select", "conversations_select", "channels_select"):
        key = {
            "users_select": "selected_user",
            "conversations_select": "selected_conversation",
            "channels_select": "selected_channel",
        }[kind]
        return {"type": kind, key: _text(value)}
    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"type": kind, "selected_option": _option(element, value)}
    if kind in ("checkboxes", "multi_static_select"):
        options = element.get("options") or []
        if value is True:
            chosen = options
        else:
            wanted = [] if value in (None, False) else ([value] if isinstance(value, str) else list(value))
            chosen = [o for o in options if o.get("value") in wanted]
        return {"type": kind, "selected_options": [dict(o) for o in chosen]}
    if kind == "datepicker":
        return {"type": kind, "selected_date": _text(value)}
    if kind == "timepicker":
        return {"type": kind, "selected_time": _text(value)}
    return {"type": kind, "value": _text(value)}


def _initial(element: dict[str, Any]) -> Any:
    """What Slack submits for an untouched element: its initial value, if any."""
    for key in (
        "initial_value",
        "initial_user",
        "initial_users",
        "initial_date",
        "initial_time",
        "initial_conversation",
        "initial_channel",
        "initial_conversations",
        "initial_channels",
    ):
        if key in element:
            return element[key]
    if isinstance(element.get("initial_option"), dict):
        return element["initial_option"].get("value")
    if isinstance(element.get("initial_options"), list):
        return [o.get("value") for o in element["initial_options"]]
    return None


def view_values(view: dict[str, Any], fields: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """`state.values` for `view`'s input blocks, each filled from `fields[block_id]` (or its action_id)."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        block_id, action_id = block.get("block_id", ""), element.get("action_id", "")
        if block_id in fields or action_id in fields:
            value = fields[block_id] if block_id in fields else fields[action_id]
        else:
            value = _initial(element)
        values[block_id] = {action_id: element_state(element, value)}
    return values
