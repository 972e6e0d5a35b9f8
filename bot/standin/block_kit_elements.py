"""Block Kit element and composition-object limits: the checks `block_kit_limits` runs on every element.

Problem strings are shaped like Slack's `response_metadata.messages` (see `problem`). Pages are under
https://docs.slack.dev/reference/ unless a full address is given; where the docs disagree or are
silent we take the stricter reading, so that a payload the fake accepts is one real Slack accepts too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

Check = Callable[[dict[str, Any], str], list[str]]

ACTION_ID = 255  # every element page
# block-kit/composition-objects/text-object: "The minimum length is 1 and maximum length is 3000
# characters"; the tighter per-field limits (here and in block_kit_limits) take precedence.
TEXT_OBJECT = 3000
# block-kit/blocks/image-block. The image *element* page was not consulted; stricter reading: the
# block's limits apply to the element too.
IMAGE_ALT, IMAGE_URL, IMAGE_TITLE = 2000, 3000, 2000
# block-kit/block-elements/button-element; accessibility_label 75 from @slack/types'
# Button (https://docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/Button).
BUTTON_TEXT, BUTTON_VALUE, BUTTON_URL, BUTTON_A11Y = 75, 2000, 3000, 75
STYLES = frozenset({"primary", "danger"})
CONFIRM_TITLE, CONFIRM_TEXT, CONFIRM_BUTTON = 100, 300, 30  # composition-objects/confirmation-dialog-object
# Placeholder 150: the select-menu, multi-select-menu, date-picker, plain-text-input and number-input
# element pages. Time/email/URL inputs were not consulted; we assume the same 150.
PLACEHOLDER = 150
# block-elements/select-menu-element; groups: composition-objects/option-group-object
SELECT_OPTIONS = SELECT_GROUPS = GROUP_OPTIONS = 100
GROUP_LABEL = 75
# composition-objects/option-object: text 75, description 75, url 3000 (overflow only), `value` 150;
# but the older api.slack.com copy and @slack/types' PlainTextOption (docs.slack.dev/tools/
# node-slack-sdk/reference/types/interfaces/PlainTextOption) say 75. They disagree: we take 75.
OPTION_TEXT, OPTION_VALUE, OPTION_DESCRIPTION, OPTION_URL = 75, 75, 75, 3000
CHOICE_OPTIONS = 10  # checkboxes-element, radio-button-group-element: "A maximum of 10 options"
# The older api.slack.com overflow docs say "maximum ... is 5, minimum is 2"; the current
# block-elements/overflow-menu-element says only "up to five". Stricter: keep the minimum.
OVERFLOW_MIN, OVERFLOW_MAX = 2, 5
TEXT_INPUT_LENGTH = 3000  # block-elements/plain-text-input-element: min/max_length in 0|1..3000

# Which elements each block takes: "Works with block types" at
# https://api.slack.com/reference/block-kit/block-elements (multi-selects: Section and Input only).
_KINDS = ("static", "external", "users", "conversations", "channels")
_SELECTS = frozenset(f"{multi}{kind}_select" for multi in ("", "multi_") for kind in _KINDS)
_COMMON = {"button", "checkboxes", "datepicker", "overflow", "radio_buttons", "timepicker", "workflow_button"}
SECTION_ACCESSORIES = _SELECTS | _COMMON | {"image"}
ACTIONS_ALLOWED = {f"{kind}_select" for kind in _KINDS} | _COMMON | {"datetimepicker"}
_INPUT_ONLY = {"email_text_input", "file_input", "number_input", "plain_text_input", "rich_text_input"}
_INPUT_ONLY |= {"url_text_input"}
INPUT_ALLOWED = _SELECTS | _INPUT_ONLY | {"checkboxes", "datepicker", "datetimepicker", "radio_buttons", "timepicker"}
# Elements that get only the common checks (action_id, placeholder, confirm): the bot builds none of them.
_UNCHECKED_ELEMENTS = {"datetimepicker", "email_text_input", "file_input", "rich_text_input", "url_text_input"}
_UNCHECKED_ELEMENTS |= {"workflow_button"}
_TOKEN = re.compile(r"[^.\[\]]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def problem(where: str, detail: str) -> str:
    """Render `where` both as a readable path and as the JSON pointer Slack reports."""
    return f"{where}: {detail} [json-pointer:/{'/'.join(_TOKEN.findall(where))}]"


def _size(value: Any, where: str, limit: int, minimum: int, unit: str) -> list[str]:
    if not isinstance(value, str | list) or isinstance(value, str) != (unit == "characters"):
        return [problem(where, "must be a string" if unit == "characters" else "must be an array")]
    if not minimum <= len(value) <= limit:
        bound = f"limit {limit}" if len(value) > limit else f"minimum {minimum}"
        return [problem(where, f"{len(value)} {unit}, {bound}")]
    return []


def string(value: Any, where: str, limit: int, minimum: int = 0) -> list[str]:
    return _size(value, where, limit, minimum, "characters")


def optional(obj: dict[str, Any], key: str, where: str, limit: int) -> list[str]:
    return string(obj[key], f"{where}.{key}", limit) if key in obj else []


def items(value: Any, where: str, maximum: int, minimum: int = 1) -> list[str]:
    return _size(value, where, maximum, minimum, "items")


def _style(obj: dict[str, Any], where: str) -> list[str]:
    if "style" in obj and obj["style"] not in STYLES:
        return [problem(f"{where}.style", f"{obj['style']!r} is not primary or danger")]
    return []


def text_object(
    obj: Any, where: str, limit: int = TEXT_OBJECT, *, plain: bool = False, required: bool = True
) -> list[str]:
    """A text object: plain_text or mrkdwn, 1..limit characters, emoji/verbatim only where allowed."""
    if obj is None:
        return [problem(where, "is required")] if required else []
    if not isinstance(obj, dict):
        return [problem(where, "must be a text object")]
    kind = obj.get("type")
    if kind not in ("plain_text", "mrkdwn") or (plain and kind != "plain_text"):
        allowed = "plain_text" if plain else "plain_text or mrkdwn"
        return [problem(f"{where}.type", f"{kind!r} is not allowed here, expected {allowed}")]
    problems = string(obj.get("text"), f"{where}.text", min(limit, TEXT_OBJECT), minimum=1)
    if "emoji" in obj and kind != "plain_text":
        problems.append(problem(f"{where}.emoji", "only allowed on plain_text"))
    if "verbatim" in obj and kind != "mrkdwn":
        problems.append(problem(f"{where}.verbatim", "only allowed on mrkdwn"))
    return problems


def _confirm(obj: Any, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [problem(where, "must be a confirmation dialog object")]
    problems = text_object(obj.get("title"), f"{where}.title", CONFIRM_TITLE, plain=True)
    # The page's table says `text` is plain_text, but its own example (and slack_sdk's ConfirmObject
    # default) use mrkdwn; rejecting mrkdwn would fail payloads Slack accepts, so both are allowed.
    problems += text_object(obj.get("text"), f"{where}.text", CONFIRM_TEXT)
    problems += text_object(obj.get("confirm"), f"{where}.confirm", CONFIRM_BUTTON, plain=True)
    problems += text_object(obj.get("deny"), f"{where}.deny", CONFIRM_BUTTON, plain=True)
    return problems + _style(obj, where)


def _option(opt: Any, where: str, *, mrkdwn: bool = False, url: bool = False) -> list[str]:
    """One option object; mrkdwn text is allowed only in checkboxes/radios, `url` only in overflow."""
    if not isinstance(opt, dict):
        return [problem(where, "must be an option object")]
    plain = not mrkdwn
    problems = text_object(opt.get("text"), f"{where}.text", OPTION_TEXT, plain=plain)
    problems += string(opt.get("value"), f"{where}.value", OPTION_VALUE)
    problems += text_object(
        opt.get("description"), f"{where}.description", OPTION_DESCRIPTION, plain=plain, required=False
    )
    if "url" in opt and not url:
        problems.append(problem(f"{where}.url", "only allowed in overflow menus"))
    return problems + optional(opt, "url", where, OPTION_URL)


def _options(options: Any, where: str, maximum: int, minimum: int = 1, **kind: bool) -> list[str]:
    """An options array; values must be unique ("A unique string value", option-object page)."""
    problems = items(options, where, maximum, minimum)
    if problems:
        return problems
    seen: set[Any] = set()
    for i, opt in enumerate(options):
        problems += _option(opt, f"{where}[{i}]", **kind)
        value = opt.get("value") if isinstance(opt, dict) else None
        if isinstance(value, str) and value in seen:
            problems.append(problem(f"{where}[{i}].value", f"duplicate option value {value!r}"))
        seen.add(value)
    return problems


def _option_key(opt: Any) -> tuple[Any, Any]:
    """What "exactly matches" compares: the value and the displayed text (not flags like emoji)."""
    text = opt.get("text") if isinstance(opt, dict) else None
    return (opt.get("value") if isinstance(opt, dict) else None, text.get("text") if isinstance(text, dict) else text)


def _initial(el: dict[str, Any], where: str, pool: Iterable[Any] | None, **kind: bool) -> list[str]:
    """initial_option(s) must "exactly match" one of the element's options (element pages).

    `pool` None means the app supplies options at run time (external selects): no match check.
    """
    keys = None if pool is None else {_option_key(o) for o in pool}
    chosen = [("initial_option", el["initial_option"])] if "initial_option" in el else []
    if isinstance(el.get("initial_options"), list):
        chosen += [(f"initial_options[{i}]", o) for i, o in enumerate(el["initial_options"])]
    problems: list[str] = []
    for key, opt in chosen:
        problems += _option(opt, f"{where}.{key}", **kind)
        if keys is not None and _option_key(opt) not in keys:
            problems.append(problem(f"{where}.{key}", "does not match any of the options"))
    return problems


def _static_select(el: dict[str, Any], where: str) -> list[str]:
    if ("options" in el) == ("option_groups" in el):
        return [problem(where, "needs exactly one of options or option_groups")]
    if "options" in el:
        return _options(el["options"], f"{where}.options", SELECT_OPTIONS) + _initial(el, where, el["options"])
    groups, pool = el["option_groups"], list[Any]()
    problems = items(groups, f"{where}.option_groups", SELECT_GROUPS)
    for i, group in enumerate([] if problems else groups):
        at = f"{where}.option_groups[{i}]"
        if not isinstance(group, dict):
            problems.append(problem(at, "must be an option group object"))
            continue
        problems += text_object(group.get("label"), f"{at}.label", GROUP_LABEL, plain=True)
        problems += _options(group.get("options"), f"{at}.options", GROUP_OPTIONS)
        pool += group["options"] if isinstance(group.get("options"), list) else []
    return problems + _initial(el, where, pool)


def _button(el: dict[str, Any], where: str) -> list[str]:
    problems = text_object(el.get("text"), f"{where}.text", BUTTON_TEXT, plain=True)
    problems += optional(el, "value", where, BUTTON_VALUE) + optional(el, "url", where, BUTTON_URL)
    return problems + optional(el, "accessibility_label", where, BUTTON_A11Y) + _style(el, where)


def _choices(el: dict[str, Any], where: str) -> list[str]:
    """checkboxes and radio_buttons: up to 10 options, mrkdwn text allowed."""
    problems = _options(el.get("options"), f"{where}.options", CHOICE_OPTIONS, mrkdwn=True)
    return problems + _initial(el, where, el.get("options") or [], mrkdwn=True)


def _plain_text_input(el: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    for key, low in (("min_length", 0), ("max_length", 1)):  # "between 0|1 and 3000, inclusive"
        value = el.get(key)
        if value is not None and not (isinstance(value, int) and low <= value <= TEXT_INPUT_LENGTH):
            problems.append(problem(f"{where}.{key}", f"{value!r} is outside {low}..{TEXT_INPUT_LENGTH}"))
    if problems:
        return problems
    low, high = el.get("min_length", 0), el.get("max_length", TEXT_INPUT_LENGTH)
    if low > high:
        problems.append(problem(f"{where}.min_length", f"{low} is greater than max_length {high}"))
    # The docs are silent; an initial value longer than the user may submit is taken as invalid.
    return problems + optional(el, "initial_value", where, high)


def _number(value: Any, decimal: bool) -> float | None:
    """The number a number_input string holds (plain decimal notation only), else None."""
    number = float(value) if isinstance(value, str) and _NUMBER.fullmatch(value) else None
    return number if number is not None and (decimal or number.is_integer()) else None


def _number_input(el: dict[str, Any], where: str) -> list[str]:
    """https://docs.slack.dev/reference/block-kit/block-elements/number-input-element"""
    decimal = el.get("is_decimal_allowed")
    if not isinstance(decimal, bool):
        return [problem(f"{where}.is_decimal_allowed", "is required and must be a boolean")]
    problems: list[str] = []
    values = {key: _number(el[key], decimal) for key in ("min_value", "max_value", "initial_value") if key in el}
    for key, value in values.items():
        if value is None:
            problems.append(problem(f"{where}.{key}", f"{el[key]!r} is not a {'' if decimal else 'whole '}number"))
    low, high = values.get("min_value"), values.get("max_value")
    if low is not None and high is not None and low > high:
        problems.append(problem(f"{where}.min_value", "cannot be greater than max_value"))
    return problems


def _when(el: dict[str, Any], where: str, key: str, fmt: str) -> list[str]:
    """A date or time string in `fmt` (date picker: YYYY-MM-DD; time picker: HH:mm)."""
    try:
        if key in el:
            datetime.strptime(el[key], fmt)
    except (TypeError, ValueError):
        return [problem(f"{where}.{key}", f"{el[key]!r} is not in the format {fmt}")]
    return []


def image(obj: dict[str, Any], where: str) -> list[str]:
    """Image block or image element: exactly one source, alt text, optional plain_text title."""
    if ("image_url" in obj) == ("slack_file" in obj):
        return [problem(where, "needs exactly one of image_url or slack_file")]
    problems = string(obj.get("alt_text"), f"{where}.alt_text", IMAGE_ALT, minimum=1)
    problems += optional(obj, "image_url", where, IMAGE_URL)
    return problems + text_object(obj.get("title"), f"{where}.title", IMAGE_TITLE, plain=True, required=False)


ELEMENT_CHECKS: dict[str, Check] = {
    # external/users/conversations/channels selects: the app or Slack supplies the options.
    **dict.fromkeys(_SELECTS, lambda el, where: _initial(el, where, None)),
    **dict.fromkeys(("static_select", "multi_static_select"), _static_select),
    **dict.fromkeys(("checkboxes", "radio_buttons"), _choices),
    "button": _button,
    "overflow": lambda el, where: _options(el.get("options"), f"{where}.options", OVERFLOW_MAX, OVERFLOW_MIN, url=True),
    "plain_text_input": _plain_text_input,
    "number_input": _number_input,
    "datepicker": lambda el, where: _when(el, where, "initial_date", "%Y-%m-%d"),
    "timepicker": lambda el, where: _when(el, where, "initial_time", "%H:%M"),
    "image": image,
    **dict.fromkeys(_UNCHECKED_ELEMENTS, lambda _el, _where: []),
}


def element_problems(el: Any, where: str, allowed: Collection[str]) -> list[str]:
    """Problems with one block element at `where`, given the element types its block accepts."""
    if not isinstance(el, dict):
        return [problem(where, "must be an element object")]
    kind = el.get("type")
    if kind not in allowed or kind not in ELEMENT_CHECKS:
        return [problem(f"{where}.type", f"element type {kind!r} is not allowed here")]
    problems = optional(el, "action_id", where, ACTION_ID)
    if "placeholder" in el:
        problems += text_object(el["placeholder"], f"{where}.placeholder", PLACEHOLDER, plain=True)
    if "confirm" in el:
        problems += _confirm(el["confirm"], f"{where}.confirm")
    # multi-select-menu-element: max_selected_items "Minimum number is 1".
    if "max_selected_items" in el and not (isinstance(el["max_selected_items"], int) and el["max_selected_items"] >= 1):
        problems.append(problem(f"{where}.max_selected_items", "minimum is 1"))
    return problems + ELEMENT_CHECKS[kind](el, where)
