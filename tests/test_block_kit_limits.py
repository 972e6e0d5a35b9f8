"""Block Kit limits the fake Slack enforces: each limit passes at the boundary and fails one past it,
and each problem names the path, the count and the JSON pointer the way Slack reports them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.block_kit_payloads import (
    accessory,
    actions,
    button,
    confirm,
    field_input,
    in_actions,
    in_modal,
    md,
    modal,
    msg,
    only_problem,
    option,
    options,
    plain,
    section,
    select,
    text_input,
    url,
    x,
)
from trustbot.standin.block_kit_limits import block_problems, message_problems, view_problems

# (limit, payload checker given n characters or items, json pointer of the offending node)
MAXIMA: dict[str, tuple[int, Callable[[int], list[str]], str]] = {
    "message text": (40_000, lambda n: message_problems(None, x(n)), "/text"),
    "message blocks": (50, lambda n: msg(*[{"type": "divider"}] * n), "/blocks"),
    "block_id": (255, lambda n: msg(section(block_id=x(n))), "/blocks/0/block_id"),
    "section text": (3000, lambda n: msg(section(x(n))), "/blocks/0/text/text"),
    "section fields": (10, lambda n: msg({"type": "section", "fields": [md("f")] * n}), "/blocks/0/fields"),
    "section field text": (
        2000,
        lambda n: msg({"type": "section", "fields": [md("a"), md("b"), md(x(n))]}),
        "/blocks/0/fields/2/text",
    ),
    "header text": (150, lambda n: msg({"type": "header", "text": plain(x(n))}), "/blocks/0/text/text"),
    "context elements": (10, lambda n: msg({"type": "context", "elements": [md("c")] * n}), "/blocks/0/elements"),
    "context text": (3000, lambda n: msg({"type": "context", "elements": [md(x(n))]}), "/blocks/0/elements/0/text"),
    "actions elements": (25, lambda n: msg(actions(*[button(f"b{i}") for i in range(n)])), "/blocks/0/elements"),
    "button text": (75, lambda n: in_actions(button(text=plain(x(n)))), "/blocks/0/elements/0/text/text"),
    "button value": (2000, lambda n: in_actions(button(value=x(n))), "/blocks/0/elements/0/value"),
    "button url": (3000, lambda n: in_actions(button(url=url(n))), "/blocks/0/elements/0/url"),
    "button action_id": (255, lambda n: in_actions(button(x(n))), "/blocks/0/elements/0/action_id"),
    "button accessibility_label": (
        75,
        lambda n: in_actions(button(accessibility_label=x(n))),
        "/blocks/0/elements/0/accessibility_label",
    ),
    "confirm title": (
        100,
        lambda n: in_actions(button(confirm=confirm(title=plain(x(n))))),
        "/blocks/0/elements/0/confirm/title/text",
    ),
    "confirm text": (
        300,
        lambda n: in_actions(button(confirm=confirm(text=md(x(n))))),
        "/blocks/0/elements/0/confirm/text/text",
    ),
    "confirm confirm": (
        30,
        lambda n: in_actions(button(confirm=confirm(confirm=plain(x(n))))),
        "/blocks/0/elements/0/confirm/confirm/text",
    ),
    "confirm deny": (
        30,
        lambda n: in_actions(button(confirm=confirm(deny=plain(x(n))))),
        "/blocks/0/elements/0/confirm/deny/text",
    ),
    "select placeholder": (
        150,
        lambda n: accessory(select(placeholder=plain(x(n)))),
        "/blocks/0/accessory/placeholder/text",
    ),
    "select options": (100, lambda n: accessory(select(options=options(n))), "/blocks/0/accessory/options"),
    "multi select options": (
        100,
        lambda n: accessory(select("multi_static_select", options=options(n))),
        "/blocks/0/accessory/options",
    ),
    "option text": (
        75,
        lambda n: accessory(select(options=[option(x(n))])),
        "/blocks/0/accessory/options/0/text/text",
    ),
    "option value": (
        75,
        lambda n: accessory(select(options=[option(value=x(n))])),
        "/blocks/0/accessory/options/0/value",
    ),
    "option description": (
        75,
        lambda n: accessory(select(options=[option(description=plain(x(n)))])),
        "/blocks/0/accessory/options/0/description/text",
    ),
    "option groups": (
        100,
        lambda n: accessory(
            select(
                options=None,
                option_groups=[{"label": plain("G"), "options": [option(value=f"v{i}")]} for i in range(n)],
            )
        ),
        "/blocks/0/accessory/option_groups",
    ),
    "option group label": (
        75,
        lambda n: accessory(select(options=None, option_groups=[{"label": plain(x(n)), "options": options(1)}])),
        "/blocks/0/accessory/option_groups/0/label/text",
    ),
    "option group options": (
        100,
        lambda n: accessory(select(options=None, option_groups=[{"label": plain("G"), "options": options(n)}])),
        "/blocks/0/accessory/option_groups/0/options",
    ),
    "checkboxes options": (
        10,
        lambda n: accessory({"type": "checkboxes", "action_id": "c", "options": options(n)}),
        "/blocks/0/accessory/options",
    ),
    "radio options": (
        10,
        lambda n: accessory({"type": "radio_buttons", "action_id": "r", "options": options(n)}),
        "/blocks/0/accessory/options",
    ),
    "overflow options": (
        5,
        lambda n: accessory({"type": "overflow", "action_id": "o", "options": options(n)}),
        "/blocks/0/accessory/options",
    ),
    "overflow option url": (
        3000,
        lambda n: accessory({"type": "overflow", "options": [option(url=url(n)), option("b", "b")]}),
        "/blocks/0/accessory/options/0/url",
    ),
    "text input max_length": (3000, lambda n: in_modal(text_input(max_length=n)), "/view/blocks/0/element/max_length"),
    "text input min_length": (
        3000,
        lambda n: in_modal(text_input(min_length=n, max_length=3000)),
        "/view/blocks/0/element/min_length",
    ),
    "text input initial_value": (
        3000,
        lambda n: in_modal(text_input(initial_value=x(n))),
        "/view/blocks/0/element/initial_value",
    ),
    "text input initial_value within max_length": (
        10,
        lambda n: in_modal(text_input(max_length=10, initial_value=x(n))),
        "/view/blocks/0/element/initial_value",
    ),
    "text input placeholder": (
        150,
        lambda n: in_modal(text_input(placeholder=plain(x(n)))),
        "/view/blocks/0/element/placeholder/text",
    ),
    "number input placeholder": (
        150,
        lambda n: in_modal({"type": "number_input", "is_decimal_allowed": False, "placeholder": plain(x(n))}),
        "/view/blocks/0/element/placeholder/text",
    ),
    "datepicker placeholder": (
        150,
        lambda n: accessory({"type": "datepicker", "placeholder": plain(x(n))}),
        "/blocks/0/accessory/placeholder/text",
    ),
    "users select placeholder": (
        150,
        lambda n: in_actions(select("users_select", placeholder=plain(x(n)))),
        "/blocks/0/elements/0/placeholder/text",
    ),
    "multi users select placeholder": (
        150,
        lambda n: in_modal(select("multi_users_select", placeholder=plain(x(n)))),
        "/view/blocks/0/element/placeholder/text",
    ),
    "conversations select placeholder": (
        150,
        lambda n: in_actions(select("conversations_select", placeholder=plain(x(n)))),
        "/blocks/0/elements/0/placeholder/text",
    ),
    "input label": (
        2000,
        lambda n: view_problems(modal({**field_input(text_input()), "label": plain(x(n))})),
        "/view/blocks/0/label/text",
    ),
    "input hint": (
        2000,
        lambda n: view_problems(modal(field_input(text_input(), hint=plain(x(n))))),
        "/view/blocks/0/hint/text",
    ),
    "image alt_text": (
        2000,
        lambda n: msg({"type": "image", "image_url": "https://e.x/i.png", "alt_text": x(n)}),
        "/blocks/0/alt_text",
    ),
    "image url": (3000, lambda n: msg({"type": "image", "image_url": url(n), "alt_text": "a"}), "/blocks/0/image_url"),
    "image title": (
        2000,
        lambda n: msg({"type": "image", "image_url": "https://e.x/i.png", "alt_text": "a", "title": plain(x(n))}),
        "/blocks/0/title/text",
    ),
    "modal title": (24, lambda n: view_problems(modal(title=plain(x(n)))), "/view/title/text"),
    "modal submit": (24, lambda n: view_problems(modal(submit=plain(x(n)))), "/view/submit/text"),
    "modal close": (24, lambda n: view_problems(modal(close=plain(x(n)))), "/view/close/text"),
    "modal private_metadata": (3000, lambda n: view_problems(modal(private_metadata=x(n))), "/view/private_metadata"),
    "modal callback_id": (255, lambda n: view_problems(modal(callback_id=x(n))), "/view/callback_id"),
    "modal blocks": (100, lambda n: view_problems(modal(*[{"type": "divider"}] * n)), "/view/blocks"),
    "home blocks": (100, lambda n: view_problems({"type": "home", "blocks": [section()] * n}), "/view/blocks"),
    "home private_metadata": (
        3000,
        lambda n: view_problems({"type": "home", "blocks": [], "private_metadata": x(n)}),
        "/view/private_metadata",
    ),
    "home callback_id": (
        255,
        lambda n: view_problems({"type": "home", "blocks": [], "callback_id": x(n)}),
        "/view/callback_id",
    ),
}

MINIMA: dict[str, tuple[int, Callable[[int], list[str]], str]] = {
    "text object text": (1, lambda n: msg(section(x(n))), "/blocks/0/text/text"),
    "actions elements": (1, lambda n: msg(actions(*[button(f"b{i}") for i in range(n)])), "/blocks/0/elements"),
    "context elements": (1, lambda n: msg({"type": "context", "elements": [md("c")] * n}), "/blocks/0/elements"),
    "overflow options": (
        2,
        lambda n: accessory({"type": "overflow", "options": options(n)}),
        "/blocks/0/accessory/options",
    ),
    "checkboxes options": (
        1,
        lambda n: accessory({"type": "checkboxes", "options": options(n)}),
        "/blocks/0/accessory/options",
    ),
    "select options": (1, lambda n: accessory(select(options=options(n))), "/blocks/0/accessory/options"),
    "text input max_length": (1, lambda n: in_modal(text_input(max_length=n)), "/view/blocks/0/element/max_length"),
    "max_selected_items": (
        1,
        lambda n: in_modal(select("multi_users_select", max_selected_items=n)),
        "/view/blocks/0/element/max_selected_items",
    ),
    "image alt_text": (
        1,
        lambda n: msg({"type": "image", "image_url": "https://e.x/i.png", "alt_text": x(n)}),
        "/blocks/0/alt_text",
    ),
}


@pytest.mark.parametrize("name", MAXIMA)
def test_maximum_passes_at_the_limit(name: str) -> None:
    limit, check, _ = MAXIMA[name]
    assert check(limit) == []


@pytest.mark.parametrize("name", MAXIMA)
def test_maximum_fails_one_past_the_limit(name: str) -> None:
    limit, check, pointer = MAXIMA[name]
    only_problem(check(limit + 1), pointer)


@pytest.mark.parametrize("name", MINIMA)
def test_minimum_passes_at_the_limit(name: str) -> None:
    minimum, check, _ = MINIMA[name]
    assert check(minimum) == []


@pytest.mark.parametrize("name", MINIMA)
def test_minimum_fails_one_below(name: str) -> None:
    minimum, check, pointer = MINIMA[name]
    only_problem(check(minimum - 1), pointer)


def test_problem_names_the_path_the_count_and_the_pointer() -> None:
    fields = [md("a"), md("b"), md(x(2104))]
    blocks = [section(), section(), section(), {"type": "section", "fields": fields}]
    assert message_problems(blocks, None) == [
        "blocks[3].fields[2].text: 2104 characters, limit 2000 [json-pointer:/blocks/3/fields/2/text]"
    ]


def test_block_problems_uses_the_callers_path() -> None:
    assert block_problems({"type": "header", "text": plain(x(151))}, "view.blocks[7]") == [
        "view.blocks[7].text.text: 151 characters, limit 150 [json-pointer:/view/blocks/7/text/text]"
    ]


def test_nothing_to_check() -> None:
    assert message_problems(None, None) == []
    assert message_problems([], "") == []
