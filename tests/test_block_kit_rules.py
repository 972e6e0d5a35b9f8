"""Block Kit rules beyond lengths and counts: which types, elements and flags go where, uniqueness,
option matching, formats — each break reported once, at its JSON pointer, and what the rules allow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.block_kit_payloads import (
    Json,
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
)
from trustbot.standin.block_kit_limits import message_problems, view_problems


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "header", "text": md("H")}], "/blocks/0/text/type"),
        ([actions(button(text=md("Go")))], "/blocks/0/elements/0/text/type"),
        ([section(accessory=select(placeholder=md("p")))], "/blocks/0/accessory/placeholder/type"),
        (
            [section(accessory=select(options=[{"text": md("a"), "value": "a"}]))],
            "/blocks/0/accessory/options/0/text/type",
        ),
        ([{"type": "section", "text": {"type": "markdown", "text": "hi"}}], "/blocks/0/text/type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "hi", "emoji": True}}], "/blocks/0/text/emoji"),
        (
            [{"type": "section", "text": {"type": "plain_text", "text": "hi", "verbatim": True}}],
            "/blocks/0/text/verbatim",
        ),
        ([section(), {"type": "context", "elements": [{"type": "mrkdwn"}]}], "/blocks/1/elements/0/text"),
        ([actions(button(style="secondary"))], "/blocks/0/elements/0/style"),
        ([actions(button(confirm=confirm(style="warning")))], "/blocks/0/elements/0/confirm/style"),
        ([actions(button(confirm=confirm(title=md("t"))))], "/blocks/0/elements/0/confirm/title/type"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        (["section"], "/blocks/0"),
        ([actions(text_input())], "/blocks/0/elements/0/type"),
        ([actions(select("multi_static_select"))], "/blocks/0/elements/0/type"),
        ([{"type": "context", "elements": [button()]}], "/blocks/0/elements/0/type"),
        ([{"type": "section"}], "/blocks/0"),
        ([section(accessory=select(option_groups=[]))], "/blocks/0/accessory"),
        ([section(accessory=select(initial_option=option("z", "z")))], "/blocks/0/accessory/initial_option"),
        (
            [section(accessory=select(options=[option("a", "v"), option("b", "v")]))],
            "/blocks/0/accessory/options/1/value",
        ),
        ([section(accessory=select(options=[option(url="https://e.x")]))], "/blocks/0/accessory/options/0/url"),
        (
            [section(accessory={"type": "checkboxes", "options": options(2), "initial_options": [option("z", "z")]})],
            "/blocks/0/accessory/initial_options/0",
        ),
        ([section(accessory={"type": "datepicker", "initial_date": "2024-13-01"})], "/blocks/0/accessory/initial_date"),
        ([section(accessory={"type": "timepicker", "initial_time": "25:00"})], "/blocks/0/accessory/initial_time"),
        ([{"type": "image", "alt_text": "a"}], "/blocks/0"),
        (
            [{"type": "rich_text", "elements": [{"type": "rich_text_paragraph", "elements": []}]}],
            "/blocks/0/elements/0",
        ),
        ([{"type": "rich_text", "elements": []}], "/blocks/0/elements"),
        ([section(), section(block_id="same"), section(block_id="same")], "/blocks/2/block_id"),
        ([actions(button("go"), button("go"))], "/blocks/0/elements/1/action_id"),
    ],
)
def test_message_rule_breaks(blocks: list[Any], pointer: str) -> None:
    only_problem(message_problems(blocks, None), pointer)


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        ({"type": "dialog", "blocks": []}, "/view/type"),
        ({"type": "modal", "blocks": []}, "/view/title"),
        (modal(title=md("T")), "/view/title/type"),
        ({k: v for k, v in modal(field_input(text_input())).items() if k != "submit"}, "/view/submit"),
        ({"type": "home"}, "/view/blocks"),
        (modal(field_input({"type": "number_input", "action_id": "n"})), "/view/blocks/0/element/is_decimal_allowed"),
        (
            modal(
                field_input({"type": "number_input", "is_decimal_allowed": False, "min_value": "5", "max_value": "1"})
            ),
            "/view/blocks/0/element/min_value",
        ),
        (
            modal(field_input({"type": "number_input", "is_decimal_allowed": False, "initial_value": "1.5"})),
            "/view/blocks/0/element/initial_value",
        ),
        (modal(field_input(text_input(min_length=10, max_length=5))), "/view/blocks/0/element/min_length"),
        (modal({**field_input(text_input()), "label": None}), "/view/blocks/0/label"),
        (modal({"type": "input", "label": plain("L")}), "/view/blocks/0/element"),
        (
            modal(field_input({"type": "file_input", "action_id": "f"}, dispatch_action=True)),
            "/view/blocks/0/dispatch_action",
        ),
    ],
)
def test_view_rule_breaks(view: Json, pointer: str) -> None:
    only_problem(view_problems(view), pointer)


def test_rules_that_allow() -> None:
    # mrkdwn is allowed in checkbox/radio options and in the confirm dialog's text.
    mrkdwn_options = [{"text": md("*a*"), "value": "a", "description": md("_d_")}]
    assert accessory({"type": "checkboxes", "options": mrkdwn_options, "initial_options": mrkdwn_options}) == []
    assert accessory({"type": "radio_buttons", "options": mrkdwn_options, "initial_option": mrkdwn_options[0]}) == []
    assert in_actions(button(style="danger", confirm=confirm(text=md("_sure_?"), style="danger"))) == []
    # An initial option matches on value and text even if flags differ; external selects take any.
    assert accessory(select(initial_option={"text": {**plain("o0"), "emoji": True}, "value": "v0"})) == []
    assert accessory({"type": "external_select", "initial_option": option()}) == []
    # A Home tab may hold inputs without a submit button; distinct ids in separate messages are fine.
    assert view_problems({"type": "home", "blocks": [field_input(text_input())]}) == []
    assert msg(actions(button("go"))) == msg(actions(button("go"))) == []
    # One action_id may recur in separate blocks (a Re-verify button on each grant row).
    assert msg(actions(button("go")), actions(button("go"))) == []
    assert msg(section(accessory=button("go")), section(accessory=button("go"))) == []
    assert in_modal({"type": "number_input", "is_decimal_allowed": True, "min_value": "0.5", "max_value": "2"}) == []
    assert msg({"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text"}]}]}) == []
