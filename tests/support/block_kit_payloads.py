"""Block Kit payload builders shared by the Block Kit limit tests: the smallest valid piece of each kind."""

from __future__ import annotations

from typing import Any

from trustbot.standin.block_kit_limits import message_problems, view_problems

Json = dict[str, Any]


def plain(text: str) -> Json:
    return {"type": "plain_text", "text": text}


def md(text: str) -> Json:
    return {"type": "mrkdwn", "text": text}


def section(text: str = "hi", **extra: Any) -> Json:
    return {"type": "section", "text": md(text), **extra}


def button(action_id: str = "b", **extra: Any) -> Json:
    return {"type": "button", "text": plain("Go"), "action_id": action_id, **extra}


def actions(*elements: Json) -> Json:
    return {"type": "actions", "elements": list(elements)}


def option(text: str = "a", value: str = "a", **extra: Any) -> Json:
    return {"text": plain(text), "value": value, **extra}


def options(n: int) -> list[Json]:
    return [option(f"o{i}", f"v{i}") for i in range(n)]


def select(kind: str = "static_select", **extra: Any) -> Json:
    """A select of `kind`; static ones get one option unless `options=None` drops the key."""
    base: Json = {"type": kind, "action_id": "s", "placeholder": plain("Pick")}
    merged = {**base, **({"options": options(1)} if kind.endswith("static_select") else {}), **extra}
    return {key: value for key, value in merged.items() if value is not None}


def confirm(**extra: Any) -> Json:
    return {"title": plain("Sure?"), "text": md("Really?"), "confirm": plain("Yes"), "deny": plain("No"), **extra}


def field_input(element: Json, **extra: Any) -> Json:
    return {"type": "input", "label": plain("Label"), "element": element, **extra}


def text_input(**extra: Any) -> Json:
    return {"type": "plain_text_input", "action_id": "t", **extra}


def modal(*blocks: Json, **extra: Any) -> Json:
    return {"type": "modal", "title": plain("Title"), "submit": plain("Send"), "blocks": list(blocks), **extra}


def msg(*blocks: Json) -> list[str]:
    return message_problems(list(blocks), None)


def accessory(element: Json) -> list[str]:
    return msg(section(accessory=element))


def in_actions(element: Json) -> list[str]:
    return msg(actions(element))


def in_modal(element: Json) -> list[str]:
    return view_problems(modal(field_input(element)))


def x(n: int) -> str:
    return "x" * n


def url(n: int) -> str:
    return "https://e.x/" + x(n - len("https://e.x/"))


def only_problem(problems: list[str], pointer: str) -> None:
    """Exactly one problem, and it points at `pointer`."""
    assert len(problems) == 1, problems
    assert problems[0].endswith(f"[json-pointer:{pointer}]"), problems
