"""The message of an org's Slack Connect channel: its people, whose workspace has not installed Trustbot and so
has no `/trust`, request access from its **Request access** button."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, PlainTextObject, SectionBlock

from trustbot.ids import Action
from trustbot.messages.lifecycle import note
from trustbot.messages.text import Rendered, safe, truncate
from trustbot.slack.payloads import OrgRef

REQUEST_ACCESS = "Request access"


def build_connect_blocks(org_slug: str, org_name: str) -> Rendered:
    """The Request access message for `org_slug`'s Slack Connect channel (pinned there)."""
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


def build_pin_failed_notice(org_name: str, channel: str, error: str) -> Rendered:
    """DM to operators: Slack would not pin (or post) an org's Request access message, so its people may not find it."""
    what = (
        "was never posted (Slack refused the post), so it is not pinned either"
        if error == "parent_message_failed"
        else f"was posted but Slack would not pin it (`{safe(error, 100)}`)"
    )
    return note(
        f":pushpin: The Request access message of *{safe(org_name, 200)}* in <#{channel}> {what}. "
        "Check that Trustbot is in the channel and may pin there, then pin it yourself (*⋮ → Pin to channel*)."
    )
