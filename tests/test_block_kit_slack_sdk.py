"""Block Kit built with slack_sdk's models passes our checks, and our limits are never looser than the SDK's."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    ConversationSelectElement,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    ImageBlock,
    ImageElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    OptionGroup,
    OverflowMenuElement,
    PlainTextInputElement,
    RadioButtonsElement,
    RichTextBlock,
    RichTextElementParts,
    RichTextSectionElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserMultiSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from trustbot.standin import block_kit_elements as el
from trustbot.standin import block_kit_limits as lim
from trustbot.standin.block_kit_limits import message_problems, view_problems


def test_slack_sdk_message_blocks_pass() -> None:
    yes_no = [Option(text="Yes", value="yes"), Option(text="No", value="no")]
    blocks = [
        HeaderBlock(text="Access request"),
        SectionBlock(
            text="*Who*",
            fields=[f"*{i}*\nvalue" for i in range(10)],
            accessory=ButtonElement(text="Open", action_id="open"),
        ),
        DividerBlock(),
        ContextBlock(
            elements=[MarkdownTextObject(text="by <@U1>"), ImageElement(image_url="https://e.x/a.png", alt_text="a")]
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id="approve",
                    value="req-1",
                    style="primary",
                    confirm=ConfirmObject(title="Approve?", text="This grants access.", confirm="Approve", deny="Back"),
                ),
                ButtonElement(text="Deny", action_id="deny", value="req-1", style="danger"),
                StaticSelectElement(placeholder="Tier", action_id="tier", options=yes_no, initial_option=yes_no[0]),
                OverflowMenuElement(
                    action_id="more", options=[*yes_no, Option(text="Docs", value="docs", url="https://e.x")]
                ),
                DatePickerElement(action_id="until", initial_date="2030-01-31", placeholder="Until"),
                UserSelectElement(action_id="who", placeholder="Who"),
            ]
        ),
        ImageBlock(image_url="https://e.x/chart.png", alt_text="chart", title="Usage"),
        RichTextBlock(elements=[RichTextSectionElement(elements=[RichTextElementParts.Text(text="rich")])]),
    ]
    assert message_problems([b.to_dict() for b in blocks], "Access request") == []


def _request_inputs() -> list[InputBlock]:
    """One input block per element kind a request modal can use."""
    tiers = [Option(text=f"Tier {i}", value=f"t{i}", description="up to 30 days") for i in range(3)]
    return [
        InputBlock(
            block_id="use_case",
            label="Use case",
            hint="Be specific",
            element=PlainTextInputElement(
                action_id="text", multiline=True, min_length=20, max_length=3000, initial_value="x" * 40
            ),
        ),
        InputBlock(
            block_id="tier",
            label="Tier",
            element=StaticSelectElement(
                action_id="tier",
                placeholder="Pick one",
                option_groups=[OptionGroup(label="All tiers", options=tiers)],
            ),
        ),
        InputBlock(
            block_id="days",
            label="Days",
            element=NumberInputElement(
                action_id="days", is_decimal_allowed=False, initial_value=30, min_value=1, max_value=90
            ),
        ),
        InputBlock(
            block_id="members",
            label="Members",
            element=UserMultiSelectElement(action_id="members", placeholder="People", max_selected_items=5),
        ),
        InputBlock(
            block_id="channel",
            label="Channel",
            element=ConversationSelectElement(action_id="channel", placeholder="Channel"),
        ),
        InputBlock(
            block_id="tags",
            label="Tags",
            optional=True,
            element=StaticMultiSelectElement(
                action_id="tags", placeholder="Tags", options=tiers, initial_options=tiers[:1]
            ),
        ),
        InputBlock(
            block_id="ok",
            label="Attest",
            element=CheckboxesElement(action_id="ok", options=tiers, initial_options=tiers[1:]),
        ),
        InputBlock(
            block_id="pick",
            label="Pick",
            element=RadioButtonsElement(action_id="pick", options=tiers, initial_option=tiers[2]),
        ),
    ]


def test_slack_sdk_views_pass() -> None:
    view = View(
        type="modal",
        callback_id="request",
        title="Request access",
        submit="Submit",
        close="Cancel",
        private_metadata='{"org": "acme"}',
        blocks=[SectionBlock(text="Fill this in."), *_request_inputs()],
    )
    assert view_problems(view.to_dict()) == []
    home = View(type="home", blocks=[HeaderBlock(text="Trustbot"), SectionBlock(text="Nothing pending.")])
    assert view_problems(home.to_dict()) == []


def test_limits_are_never_looser_than_slack_sdk() -> None:
    ours_vs_sdk = [
        (lim.SECTION_TEXT, SectionBlock.text_max_length),
        (lim.SECTION_FIELDS, SectionBlock.fields_max_length),
        (lim.HEADER_TEXT, HeaderBlock.text_max_length),
        (lim.CONTEXT_ELEMENTS, ContextBlock.elements_max_length),
        (lim.ACTIONS_ELEMENTS, ActionsBlock.elements_max_length),
        (lim.INPUT_LABEL, InputBlock.label_max_length),
        (lim.INPUT_HINT, InputBlock.hint_max_length),
        (el.IMAGE_ALT, ImageBlock.alt_text_max_length),
        (el.IMAGE_URL, ImageBlock.image_url_max_length),
        (el.BUTTON_TEXT, ButtonElement.text_max_length),
        (el.BUTTON_VALUE, ButtonElement.value_max_length),
        (el.CONFIRM_TITLE, ConfirmObject.title_max_length),
        (el.CONFIRM_TEXT, ConfirmObject.text_max_length),
        (el.CONFIRM_BUTTON, ConfirmObject.confirm_max_length),
        (el.OPTION_TEXT, Option.label_max_length),
        (el.OPTION_VALUE, Option.value_max_length),
        (el.GROUP_LABEL, OptionGroup.label_max_length),
        (el.GROUP_OPTIONS, OptionGroup.options_max_length),
    ]
    assert [(ours, sdk) for ours, sdk in ours_vs_sdk if ours > sdk] == []
