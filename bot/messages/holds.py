"""Messages about identity holds: the IdP signalled something about a person of an org."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.models.blocks.basic_components import MarkdownTextObject, PlainTextObject

from trustbot.ids import Action
from trustbot.messages.text import Rendered, mention, safe
from trustbot.slack.payloads import HoldRef

CONFIRM = "Confirm"
KIND_WORDS = {"signal": "held until an org admin confirms them", "disabled": "disabled", "purged": "removed"}


def build_hold_placed(org_name: str, email: str, kind: str, event: str) -> Rendered:
    """To security leads and the rep: the org's IdP signalled `event` about `email`, who is no longer entitled."""
    text = (
        f"{safe(org_name)}'s identity provider signalled {safe(event)} for {safe(email)}: "
        f"they are not entitled now ({KIND_WORDS.get(kind, kind)})."
    )
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])


def build_confirm_request(org_name: str, email: str, event: str, hold_id: int) -> Rendered:
    """To the org's admins: confirm `email` again to lift the hold (a **Confirm** button)."""
    text = (
        f"{safe(org_name)}'s identity provider signalled {safe(event)} for {safe(email)}. They are not entitled "
        "until an admin confirms them again."
    )
    button = ButtonElement(
        text=PlainTextObject(text=CONFIRM),
        action_id=Action.CONFIRM_IDENTITY,
        value=HoldRef(hold_id=hold_id).model_dump_json(),
        style="primary",
    )
    return Rendered(
        text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]
    )


def build_hold_confirmed(org_name: str, email: str, by: str) -> Rendered:
    """The admin's message once lifted, and the note to leads and rep: `by` confirmed `email` again."""
    text = f"{mention(by)} confirmed {safe(email)} at {safe(org_name)} again: their hold is lifted."
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])


def build_hold_lifted(org_name: str, email: str, event: str) -> Rendered:
    """To security leads and the rep: the IdP lifted a hold (`event`, e.g. account-enabled)."""
    text = f"{safe(org_name)}'s identity provider signalled {safe(event)} for {safe(email)}: their hold is lifted."
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])
