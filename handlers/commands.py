"""`/trust` and its subcommands (DESIGN §4.4); features register their subcommands here."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.messages.help import build_help_blocks
from bot.messages.text import safe
from bot.runtime import Runtime
from handlers.common import guarded


@dataclass(frozen=True)
class TrustCommand:
    """A parsed `/trust` invocation."""

    name: str
    args: tuple[str, ...]
    rest: str
    user_id: str
    channel_id: str
    trigger_id: str | None


SubcommandHandler = Callable[[Runtime, TrustCommand, Any, Any, Any], Awaitable[None]]
_SUBCOMMANDS: dict[str, SubcommandHandler] = {}


def subcommand(name: str) -> Callable[[SubcommandHandler], SubcommandHandler]:
    """Register `handler(rt, command, ack, respond, client)` for `/trust <name>`."""

    def decorate(handler: SubcommandHandler) -> SubcommandHandler:
        _SUBCOMMANDS[name] = handler
        return handler

    return decorate


def parse_trust_command(payload: dict[str, Any]) -> TrustCommand:
    """Split the command text into a subcommand, its arguments and the free text after it."""
    text = (payload.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    try:
        args = tuple(shlex.split(rest))
    except ValueError:  # an unbalanced quote in a reason: fall back to plain words
        args = tuple(rest.split())
    return TrustCommand(
        name=name.lower(),
        args=args,
        rest=rest.strip(),
        user_id=payload.get("user_id", ""),
        channel_id=payload.get("channel_id", ""),
        trigger_id=payload.get("trigger_id"),
    )


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for `/trust`."""

    @app.command("/trust")
    @guarded
    async def trust(ack: Any, command: dict[str, Any], respond: Any, client: Any) -> None:
        parsed = parse_trust_command(command)
        handler = _SUBCOMMANDS.get(parsed.name)
        if handler is None:
            note = (
                None
                if parsed.name in ("", "help")
                else f"I don't know `{safe(parsed.name, 40)}`. Here is what I can do:"
            )
            help_message = build_help_blocks(note=note)
            await ack(text=help_message.text, blocks=help_message.blocks, response_type="ephemeral")
            return
        await handler(rt, parsed, ack, respond, client)
