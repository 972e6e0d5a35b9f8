"""The `/trust help` message."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from trustbot.messages.text import SECTION_TEXT, truncate

SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("/trust help", "this help"),
    ("/trust request", "ask for trusted access for your team (opens a form)"),
    ("/trust status", "your org's open requests and active grants; reps: what awaits you"),
    ("/trust grants [org]", "grants of your org (operators: any org)"),
    ("/trust credits [org]", "grant-program API credit balance and burn rate"),
    ("/trust alerts [org]", "open suspicious-activity alerts"),
    ("/trust verify", "re-verify your org's grants (opens a form)"),
    ("/trust revoke <grant-id> <reason>", "revoke a grant (account reps and operators)"),
)


@dataclass(frozen=True)
class HelpMessage:
    """Rendered help: blocks plus the plain-text fallback."""

    text: str
    blocks: list[Block]


def build_help_blocks(*, note: str | None = None) -> HelpMessage:
    """Every `/trust` subcommand with a one-line explanation; `note` (mrkdwn the caller escaped) explains why."""
    lines = "\n".join(f"`{usage}` — {what}" for usage, what in SUBCOMMANDS)
    blocks: list[Block] = []
    if note:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(note, SECTION_TEXT))))
    blocks.append(
        SectionBlock(text=MarkdownTextObject(text=f"*Trustbot — trusted access for dual-use AI capabilities*\n{lines}"))
    )
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text="Refusals are only ever shown to you. Every decision is audited.")]
        )
    )
    text = (note + "\n" if note else "") + "Trustbot commands: " + ", ".join(usage for usage, _ in SUBCOMMANDS)
    return HelpMessage(text=text, blocks=blocks)
