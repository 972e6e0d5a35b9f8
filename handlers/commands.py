"""`/trust` and its subcommands; features register their subcommands here."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.common import Service, guarded, reply, run_service
from trustbot.messages.help import build_help_blocks
from trustbot.messages.text import Rendered, safe
from trustbot.runtime import Runtime
from trustbot.services.context import Person
from trustbot.slack.payloads import typed

T = TypeVar("T")


@dataclass(frozen=True)
class TrustCommand:
    """A parsed `/trust` invocation."""

    name: str
    args: tuple[str, ...]
    rest: str
    user_id: str
    channel_id: str
    trigger_id: str | None

    @property
    def first(self) -> str | None:
        """The first argument, if any."""
        return self.args[0] if self.args else None


@dataclass(frozen=True)
class SlashCall:
    """One `/trust` subcommand being answered: what was typed, who typed it, and how to answer."""

    rt: Runtime
    command: TrustCommand
    person: Person
    ack: AsyncAck
    respond: AsyncRespond
    client: AsyncWebClient

    async def run(self, call: Service[T]) -> T:
        """Run one service for the person who typed the command."""
        return await run_service(self.rt, self.person, call)

    async def reply(self, message: Rendered | str) -> None:
        """Answer ephemerally."""
        await reply(self.respond, message)


SubcommandHandler = Callable[[SlashCall], Awaitable[None]]
_SUBCOMMANDS: dict[str, SubcommandHandler] = {}


def subcommand(name: str) -> Callable[[SubcommandHandler], SubcommandHandler]:
    """Register `handler(call)` for `/trust <name>`."""

    def decorate(handler: SubcommandHandler) -> SubcommandHandler:
        _SUBCOMMANDS[name] = handler
        return handler

    return decorate


# Longer than any /trust command needs (a reason is at most 3,000 characters). Longer text is refused
# before it is split, so a pasted novel cannot hold the event loop.
COMMAND_MAX = 4000
TOO_LONG = f":no_entry: That is longer than any `/trust` command ({COMMAND_MAX} characters at most); nothing was done."


def parse_trust_command(payload: dict[str, Any]) -> TrustCommand:
    """Split the command text into a subcommand, its arguments and the free text after it."""
    text = typed(payload.get("text")).strip()
    name, _, rest = text.partition(" ")
    try:
        args = tuple(shlex.split(rest))
    except ValueError:  # an unbalanced quote in a reason: fall back to plain words
        args = tuple(rest.split())
    return TrustCommand(
        name=name.lower(),
        args=args,
        rest=rest.strip(),
        user_id=typed(payload.get("user_id")),
        channel_id=typed(payload.get("channel_id")),
        trigger_id=typed(payload.get("trigger_id")) or None,
    )


def _help(note: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The help message as Bolt sends it (blocks as dicts)."""
    message = build_help_blocks(note=note)
    return message.text, [block.to_dict() for block in message.blocks]


@cache
def _plain_help() -> tuple[str, list[dict[str, Any]]]:
    """`/trust help` never changes: its blocks are built and validated once, not on every request."""
    return _help(None)


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for `/trust`."""

    @app.command("/trust")
    @guarded(rt)
    async def trust(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient, person: Person
    ) -> None:
        if len(str(command.get("text") or "")) > COMMAND_MAX:
            await ack(text=TOO_LONG, response_type="ephemeral")
            return
        parsed = parse_trust_command(command)
        handler = _SUBCOMMANDS.get(parsed.name)
        if handler is None:
            note = (
                None
                if parsed.name in ("", "help")
                else f"I don't know `{safe(parsed.name, 40)}`. Here is what I can do:"
            )
            text, blocks = _help(note) if note else _plain_help()
            await ack(text=text, blocks=blocks, response_type="ephemeral")
            return
        await handler(SlashCall(rt=rt, command=parsed, person=person, ack=ack, respond=respond, client=client))
