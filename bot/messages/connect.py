"""The message of an org's Slack Connect channel: its people, whose workspace has not installed Trustbot and so
has no `/trust`, request access from its **Request access** button."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, PlainTextObject, SectionBlock

from trustbot.ids import Action
from trustbot.messages.text import Rendered, safe, truncate
from trustbot.slack.payloads import OrgRef

REQUEST_ACCESS = "Request access"


def build_connect_blocks(org_slug: str, org_name: str) -> Rendered:
    """The Request access message for `org_slug`'s Slack Connect channel (to be pinned there)."""
    text = truncate(
        f":key: *Trusted access for {safe(org_name, 200)}*\n"
        f"Enterprise admins of {safe(org_name, 200)} can request trusted access here: click *{REQUEST_ACCESS}* "
        "and fill in the form. Your account rep reviews it and you hear back in a direct message.",
        3000,
    )
    button = ButtonElement(
        text=PlainTextObject(text=REQUEST_ACCESS),
        action_id=Action.CONNECT_REQUEST_ACCESS,
        value=OrgRef(org_slug=org_slug).model_dump_json(),
        style="primary",
    )
    fallback = f"Enterprise admins of {safe(org_name, 200)} can request trusted access: click {REQUEST_ACCESS}."
    return Rendered(
        text=fallback, blocks=[SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]
    )
