"""Records kept by the fake Slack (`Call`, `Message`) and the readable transcript renderer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

_ANGLE = re.compile(r"<([^<>]*)>")


@dataclass
class Call:
    """One Web API call as the fake Slack saw it."""

    method: str
    args: dict[str, Any]
    at: float
    status: int
    ok: bool
    carried_out: bool = False  # done by Slack, but answered late, never, or not at all

    def __getitem__(self, key: str) -> Any:
        """Read an argument, so `call["channel"]` works like `call.args["channel"]`."""
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Read an argument with a default."""
        return self.args.get(key, default)


class CallList(list[Call]):
    """The list of recorded calls; calling it with a method name filters it."""

    def __call__(self, method: str) -> list[Call]:
        """The calls made to `method`, in order."""
        return [c for c in self if c.method == method]


@dataclass
class Message:
    """A message as it stands in the fake Slack (latest version; older ones in `edits`)."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str = "UBOT"
    edits: list[Message] = field(default_factory=list)
    reply_broadcast: bool = False
    deleted: bool = False
    metadata: dict[str, Any] | None = None
    pinned: bool = False  # pinned to its channel (`pins.add`)

    @property
    def is_reply(self) -> bool:
        """True for a message inside a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def snapshot(self) -> Message:
        """A copy of this version without its edit history."""
        return replace(self, blocks=list(self.blocks or []), edits=[])

    def _button_elements(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for block in self.blocks or []:
            candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            for element in candidates:
                if isinstance(element, dict) and element.get("type") == "button":
                    found.append({**element, "block_id": block.get("block_id", "b")})
        return found

    def buttons(self) -> list[str]:
        """Visible texts of every button in this message's blocks."""
        return [_plain(b.get("text")) for b in self._button_elements()]

    def button(self, text: str) -> dict[str, Any]:
        """The button element whose visible text is `text` (with its `block_id` added)."""
        for element in self._button_elements():
            if _plain(element.get("text")) == text:
                return element
        raise AssertionError(f"no button {text!r} in message {self.ts} in {self.channel}; buttons: {self.buttons()}")

    def rendered(self, users: dict[str, str] | None = None) -> str:
        """What a person would read: blocks when present, else text."""
        return render_content(self.text, self.blocks, users or {})


def _plain(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return str(obj or "")


def name_of(user: str | None, users: dict[str, str]) -> str:
    """`@Name` for a user id (the id itself when unknown)."""
    if not user:
        return "@someone"
    return "@" + users.get(user, user)


def unescape(text: str, users: dict[str, str]) -> str:
    """Turn Slack mrkdwn escapes into what a reader sees: mentions, links, `&lt;` etc."""

    def one(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return label if label.startswith("@") else name_of(target[1:], users)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            if label:
                return label
            word = target[1:].split("^")[0]
            return "@" + word
        if label:
            return f"{label} ({target})"
        return target

    text = _ANGLE.sub(one, text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _section_lines(block: dict[str, Any], users: dict[str, str]) -> list[str]:
    lines: list[str] = []
    if block.get("text"):
        lines.append(unescape(_plain(block["text"]), users))
    for item in block.get("fields") or []:
        lines.append(unescape(_plain(item), users).replace("\n", " "))
    accessory = block.get("accessory")
    if isinstance(accessory, dict) and accessory.get("type") == "button":
        lines.append(f"[{_plain(accessory.get('text'))}]")
    return lines


def _context_lines(block: dict[str, Any], users: dict[str, str]) -> list[str]:
    parts = [unescape(_plain(e), users) for e in block.get("elements") or [] if e.get("type") != "image"]
    return [" · ".join(parts)] if parts else []


def _control(element: dict[str, Any]) -> str:
    if element.get("type") == "button":
        return f"[{_plain(element.get('text'))}]"
    return f"[{_plain(element.get('placeholder')) or element.get('type', 'control')} ▾]"


# Each block type's lines in the transcript, by type; a type not listed shows nothing.
_BLOCK_LINES: dict[str, Callable[[dict[str, Any], dict[str, str]], list[str]]] = {
    "header": _section_lines,
    "section": _section_lines,
    "context": _context_lines,
    "actions": lambda block, _users: [" ".join(_control(e) for e in block.get("elements") or [])],
    "divider": lambda _block, _users: ["───"],
    "image": lambda block, _users: [f"[image: {block.get('alt_text', '')}]"],
    "rich_text": lambda block, users: [unescape(_rich_text(block), users)],
    "input": lambda block, _users: [f"{_plain(block.get('label'))}: [input]"],
}


def _block_lines(block: dict[str, Any], users: dict[str, str]) -> list[str]:
    lines_of = _BLOCK_LINES.get(str(block.get("type")))
    return [line for line in lines_of(block, users) if line] if lines_of else []


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "user":
            return f"<@{node.get('user_id')}>"
        if node.get("type") == "link":
            return str(node.get("text") or node.get("url", ""))
        return "".join(_rich_text(e) for e in node.get("elements") or [])
    if isinstance(node, list):
        return "".join(_rich_text(e) for e in node)
    return ""


def render_content(text: str | None, blocks: list[dict[str, Any]] | None, users: dict[str, str]) -> str:
    """Render a message body: its blocks when present, else its text."""
    if blocks:
        lines: list[str] = []
        for block in blocks:
            if isinstance(block, dict):
                lines.extend(_block_lines(block, users))
        if lines:
            return "\n".join(lines)
    return unescape(text or "", users)


def _with_prefix(prefix: str, body: str) -> list[str]:
    rows = body.splitlines() or [""]
    pad = " " * len(prefix)
    return [prefix + rows[0]] + [pad + row for row in rows[1:]]


def _where(channel: str, users: dict[str, str]) -> str:
    if channel.startswith("D") and len(channel) > 1 and channel[1] in "UW":
        # A DM in a customer workspace is `D<user>-<team>`: the person is the part before the team.
        return f"DM → {name_of(channel[1:].split('-')[0], users)}"
    return f"#{channel}"


def render_event(event: dict[str, Any], users: dict[str, str]) -> list[str]:
    """Lines for one transcript event (post, reply, update, delete, pin, ephemeral, modal, home)."""
    kind = event["kind"]
    channel = event.get("channel") or ""
    body = render_content(event.get("text"), event.get("blocks"), users)
    if kind == "post":
        if _where(channel, users).startswith("DM"):
            return _with_prefix(f"{_where(channel, users)}: ", body)
        return _with_prefix(f"{_where(channel, users)}  trustbot: ", body)
    if kind == "reply":
        return _with_prefix("    ↳ trustbot: ", body)
    if kind == "update":
        return _with_prefix(f"✎ edited {_where(channel, users)} message: ", body)
    if kind == "delete":
        return [f"✗ deleted {_where(channel, users)} message"]
    if kind == "pin":
        return [f"📌 pinned a {_where(channel, users)} message"]
    if kind == "ephemeral":
        return _with_prefix(f"(only {name_of(event.get('user'), users)} sees) ", body)
    if kind == "modal":
        verb = event.get("verb", "opened")
        return [f"[modal {verb} for {name_of(event.get('user'), users)}: {event.get('title', '')}]"]
    if kind == "home":
        return [f"[home tab updated for {name_of(event.get('user'), users)}]"]
    return []


def render_transcript(events: list[dict[str, Any]], users: dict[str, str]) -> str:
    """The whole transcript, one event after another in the order they happened."""
    lines: list[str] = []
    for event in events:
        lines.extend(render_event(event, users))
    return "\n".join(lines) + ("\n" if lines else "")
