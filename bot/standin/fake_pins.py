"""The fake Slack's pins: `pins.add` and `pins.list`, as Slack answers them for a message in a channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trustbot.standin.transcript import Message

if TYPE_CHECKING:
    from trustbot.standin.fake_slack import FakeSlack


def pinned(fake: FakeSlack, channel: str) -> list[Message]:
    """The messages pinned in `channel`, oldest first (what a person sees under the channel's pins)."""
    return [m for m in fake._channels.get(fake._resolve(channel), []) if m.pinned and not m.deleted]


def _pins_add(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = fake._resolve(str(args.get("channel") or ""))
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    if channel in fake.not_member:
        return {"ok": False, "error": "not_in_channel"}
    if channel in fake.archived:
        return {"ok": False, "error": "is_archived"}
    message = fake._find(channel, str(args.get("timestamp") or ""))
    if message is None:
        return {"ok": False, "error": "message_not_found"}
    if message.is_reply and not message.reply_broadcast:
        return {"ok": False, "error": "not_pinnable"}
    if message.pinned:
        return {"ok": False, "error": "already_pinned"}
    message.pinned = True
    fake._events.append({"kind": "pin", "channel": channel, "ts": message.ts})
    return {"ok": True}


def _pins_list(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = fake._resolve(str(args.get("channel") or ""))
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    items = [
        {"type": "message", "channel": channel, "message": {"type": "message", "text": m.text, "ts": m.ts}}
        for m in pinned(fake, channel)
    ]
    return {"ok": True, "items": items}


PIN_METHODS = {"pins.add": _pins_add, "pins.list": _pins_list}
