"""Slack's documented Block Kit limits, as pure checks the fake Web API can run on every payload.

Each check returns problem strings shaped like Slack's `response_metadata.messages`, e.g.
``blocks[3].fields[2].text: 2104 characters, limit 2000 [json-pointer:/blocks/3/fields/2/text]``.
Each limit cites the page it came from. Where the docs disagree or are silent we take the stricter
reading, so that a payload the fake accepts is one real Slack accepts too, and say so in a comment.
This module checks messages, views and blocks; `block_kit_elements` checks the elements in them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from trustbot.standin.block_kit_elements import (
    ACTIONS_ALLOWED,
    INPUT_ALLOWED,
    SECTION_ACCESSORIES,
    Check,
    element_problems,
    image,
    items,
    optional,
    problem,
    string,
    text_object,
)

# Pages are under https://docs.slack.dev/reference/ unless a full address is given.
MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100  # block-kit/blocks: "up to 50 ... in each message, and 100 ... modals"
# https://api.slack.com/changelog/2018-04-truncating-really-long-messages: Slack truncates `text`
# beyond 40,000 characters and warns (`message_truncated`). Stricter reading: we reject it.
MESSAGE_TEXT = 40_000
BLOCK_ID = 255  # every block page
SECTION_TEXT, SECTION_FIELDS, SECTION_FIELD_TEXT = 3000, 10, 2000  # block-kit/blocks/section-block
HEADER_TEXT = 150  # block-kit/blocks/header-block
CONTEXT_ELEMENTS = 10  # block-kit/blocks/context-block
# block-kit/blocks/actions-block says 25. Older copies of the docs say 5; that limit was lifted
# (slack_sdk's `ActionsBlock.elements_max_length` is 25).
ACTIONS_ELEMENTS = 25
INPUT_LABEL = INPUT_HINT = 2000  # block-kit/blocks/input-block
# views/modal-views and views/home-tab-views. (An error quoted in jeremeamia/slack-block-kit#3 reads
# "must be less than 24 characters" for a title; the docs say max 24, which we keep.)
VIEW_BUTTON_TEXT, PRIVATE_METADATA, CALLBACK_ID = 24, 3000, 255
_RICH_TEXT_PARTS = frozenset({"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"})


def _section(block: dict[str, Any], where: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [problem(where, "needs text or fields")]
    problems = text_object(block.get("text"), f"{where}.text", SECTION_TEXT, required=False)
    if "fields" in block:
        problems += items(block["fields"], f"{where}.fields", SECTION_FIELDS)
        for i, field in enumerate(block["fields"] if isinstance(block["fields"], list) else []):
            problems += text_object(field, f"{where}.fields[{i}]", SECTION_FIELD_TEXT)
    if "accessory" in block:
        problems += element_problems(block["accessory"], f"{where}.accessory", SECTION_ACCESSORIES)
    return problems


def _elements(block: dict[str, Any], where: str, limit: int, kinds: Collection[str], texts: bool = False) -> list[str]:
    """The `elements` of a context block (text objects and images) or an actions block."""
    elements = block.get("elements")
    problems = items(elements, f"{where}.elements", limit)
    for i, el in enumerate(elements if isinstance(elements, list) and not problems else []):
        at = f"{where}.elements[{i}]"
        is_text = texts and isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn")
        problems += text_object(el, at) if is_text else element_problems(el, at, kinds)
    return problems


def _input(block: dict[str, Any], where: str) -> list[str]:
    problems = text_object(block.get("label"), f"{where}.label", INPUT_LABEL, plain=True)
    problems += text_object(block.get("hint"), f"{where}.hint", INPUT_HINT, plain=True, required=False)
    element = block.get("element")
    problems += element_problems(element, f"{where}.element", INPUT_ALLOWED)
    if block.get("dispatch_action") is True and isinstance(element, dict) and element.get("type") == "file_input":
        problems.append(problem(f"{where}.dispatch_action", "is incompatible with file_input"))
    return problems


def _rich_text(block: dict[str, Any], where: str) -> list[str]:
    """A light check of https://docs.slack.dev/reference/block-kit/blocks/rich-text-block."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [problem(f"{where}.elements", "must be a non-empty array")]
    bad = [i for i, p in enumerate(elements) if not isinstance(p, dict) or p.get("type") not in _RICH_TEXT_PARTS]
    bad += [i for i, p in enumerate(elements) if i not in bad and not isinstance(p.get("elements"), list)]
    detail = "must be a rich_text_section/_list/_preformatted/_quote with elements"
    return [problem(f"{where}.elements[{i}]", detail) for i in bad]


BLOCK_CHECKS: dict[str, Check] = {
    "section": _section,
    "header": lambda block, where: text_object(block.get("text"), f"{where}.text", HEADER_TEXT, plain=True),
    "context": lambda block, where: _elements(block, where, CONTEXT_ELEMENTS, {"image"}, texts=True),
    "actions": lambda block, where: _elements(block, where, ACTIONS_ELEMENTS, ACTIONS_ALLOWED),
    "input": _input,
    "image": image,
    "rich_text": _rich_text,
    # block_id checks only: dividers have nothing else, and the bot does not build the others.
    **dict.fromkeys(("divider", "file", "video", "markdown", "table", "context_actions"), lambda _block, _where: []),
}


def _action_ids(block: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """(action_id, path) for every element of the block that carries one."""
    found = [(f"{where}.accessory", block.get("accessory")), (f"{where}.element", block.get("element"))]
    if block.get("type") == "actions" and isinstance(block.get("elements"), list):
        found += [(f"{where}.elements[{i}]", el) for i, el in enumerate(block["elements"])]
    ids = [(el.get("action_id"), f"{at}.action_id") for at, el in found if isinstance(el, dict)]
    return [(action_id, at) for action_id, at in ids if isinstance(action_id, str)]


def block_problems(block: Any, where: str) -> list[str]:
    """Problems with one block at `where` (e.g. "blocks[3]"), including duplicate action_ids in it."""
    if not isinstance(block, dict):
        return [problem(where, "must be a block object")]
    kind = block.get("type")
    if not isinstance(kind, str) or kind not in BLOCK_CHECKS:
        return [problem(f"{where}.type", f"unsupported block type {kind!r}")]
    problems = optional(block, "block_id", where, BLOCK_ID) + BLOCK_CHECKS[kind](block, where)
    seen: set[str] = set()
    for action_id, at in _action_ids(block, where):
        if action_id in seen:
            problems.append(problem(at, f"duplicate action_id {action_id!r}"))
        seen.add(action_id)
    return problems


def _blocks_problems(blocks: Any, where: str, limit: int) -> list[str]:
    """Every block, plus block_id uniqueness across the whole message or view."""
    problems = items(blocks, where, limit, minimum=0)
    block_ids: set[str] = set()
    for i, block in enumerate(blocks if isinstance(blocks, list) else list[Any]()):
        at = f"{where}[{i}]"
        problems += block_problems(block, at)
        if not isinstance(block, dict):
            continue
        # "block_id should be unique for each message" (every block page). An action_id need only be
        # unique in its containing block (every element page): a list of grants, each row with its
        # own Re-verify button, repeats one action_id across blocks, and Slack accepts it.
        if isinstance(block.get("block_id"), str):
            if block["block_id"] in block_ids:
                problems.append(problem(f"{at}.block_id", f"duplicate block_id {block['block_id']!r}"))
            block_ids.add(block["block_id"])
    return problems


def message_problems(blocks: list[dict[str, Any]] | None, text: str | None) -> list[str]:
    """Problems with a chat.postMessage / update / postEphemeral / response_url payload."""
    problems = [] if text is None else string(text, "text", MESSAGE_TEXT)
    return problems + ([] if blocks is None else _blocks_problems(blocks, "blocks", MESSAGE_BLOCKS))


def view_problems(view: dict[str, Any]) -> list[str]:
    """Problems with the `view` of views.open / push / update / publish (a modal or a Home tab)."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return [problem("view.type", "must be modal or home")]
    problems = _blocks_problems(view.get("blocks"), "view.blocks", VIEW_BLOCKS)
    problems += optional(view, "private_metadata", "view", PRIVATE_METADATA)
    problems += optional(view, "callback_id", "view", CALLBACK_ID)
    if view["type"] == "modal":
        problems += text_object(view.get("title"), "view.title", VIEW_BUTTON_TEXT, plain=True)
        problems += text_object(view.get("submit"), "view.submit", VIEW_BUTTON_TEXT, plain=True, required=False)
        problems += text_object(view.get("close"), "view.close", VIEW_BUTTON_TEXT, plain=True, required=False)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and "submit" not in view:  # modal-views: "submit is required when an input block ..."
            problems.append(problem("view.submit", "is required when the view has an input block"))
    return problems
