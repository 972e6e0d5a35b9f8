"""Modals for access requests: the request form, deny reason, info question and answer, revoke reason.

Labels carry the contract words people and scripts rely on; block and action ids come from `trustbot.ids`, so the
handler reads values back with `trustbot.slack.payloads` and services key inline errors by `Block`.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import (
    Block as SlackBlock,
)
from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from trustbot.ids import Block, Element
from trustbot.ids import View as ViewId
from trustbot.messages.text import MODAL_TITLE, OPTION_TEXT, PLAIN_LABEL, mention, plural, quote, safe, truncate
from trustbot.slack.payloads import DecisionContext, GrantRef, RequestFormMeta, RequestRef
from trustbot.storage.tables import Tier, approvals_needed

LABEL_ORG = "Organisation"
LABEL_MEMBERS = "Team members to cover"
LABEL_BLANKET = "Blanket access"
LABEL_GROUP = "Group at your identity provider"
LABEL_TIER = "Capability tier"
LABEL_USE_CASE = "Use case"
LABEL_DURATION = "Duration (days)"
LABEL_JUSTIFICATION = "Justification"
REASON_MAX = 3000  # Slack's own cap on a plain-text input; the services check the domain's limits


@dataclass(frozen=True)
class OrgOption:
    """One org the admin may request for, with the tiers it allows (not above its max tier)."""

    slug: str
    name: str
    domains: tuple[str, ...]
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class GroupOption:
    """An IdP group (pushed by the org's SCIM) a request may cover."""

    scim_id: str
    name: str
    org_name: str


@dataclass(frozen=True)
class RequestForm:
    """What the request modal offers: the admin's orgs, their allowed tiers, their IdP groups, the text limits."""

    orgs: tuple[OrgOption, ...]
    justification_min: int
    text_max: int
    groups: tuple[GroupOption, ...] = ()

    def all_tiers(self) -> list[Tier]:
        """Every tier allowed for at least one of the orgs, least capable first."""
        seen: dict[str, Tier] = {}
        for org in self.orgs:
            for tier in org.tiers:
                seen.setdefault(tier.id, tier)
        return sorted(seen.values(), key=lambda t: (t.rank, t.id))


def _option(text: str, value: str) -> Option:
    return Option(text=PlainTextObject(text=truncate(text, OPTION_TEXT)), value=value)


def _tier_option(tier: Tier) -> Option:
    approvals = plural(approvals_needed(tier), "approval")
    return _option(f"{tier.name} — up to {tier.max_days} days, {approvals}", tier.id)


def _text_input(
    block: str,
    element: str,
    label: str,
    *,
    multiline: bool = True,
    min_length: int | None = None,
    max_length: int = REASON_MAX,
    placeholder: str | None = None,
    hint: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block,
        label=PlainTextObject(text=truncate(label, PLAIN_LABEL)),
        element=PlainTextInputElement(
            action_id=element,
            multiline=multiline,
            min_length=min_length,
            max_length=max_length,
            placeholder=PlainTextObject(text=truncate(placeholder, PLAIN_LABEL)) if placeholder else None,
        ),
        hint=PlainTextObject(text=truncate(hint, PLAIN_LABEL)) if hint else None,
    )


def _org_block(form: RequestForm) -> SlackBlock:
    """Which org: said outright when the admin has one, a select when several."""
    if len(form.orgs) == 1:
        return SectionBlock(
            text=MarkdownTextObject(text=f"Requesting trusted access for *{safe(form.orgs[0].name, 200)}*.")
        )
    return InputBlock(
        block_id=Block.ORG,
        label=PlainTextObject(text=LABEL_ORG),
        element=StaticSelectElement(
            action_id=Element.ORG,
            placeholder=PlainTextObject(text="Choose an organisation"),
            options=[_option(f"{org.name} ({org.slug})", org.slug) for org in form.orgs[:100]],
        ),
    )


def _scope_blocks(form: RequestForm) -> list[SlackBlock]:
    """Whom the grant covers: named members and/or everyone at the org's verified domains."""
    single = form.orgs[0] if len(form.orgs) == 1 else None
    domains = ", ".join(single.domains) if single is not None and single.domains else "the org's verified email domains"
    return [
        InputBlock(
            block_id=Block.MEMBERS,
            label=PlainTextObject(text=LABEL_MEMBERS),
            element=UserMultiSelectElement(
                action_id=Element.MEMBERS, placeholder=PlainTextObject(text="Choose people")
            ),
            optional=True,
            hint=PlainTextObject(text="Leave empty when asking for blanket access."),
        ),
        InputBlock(
            block_id=Block.BLANKET,
            label=PlainTextObject(text=LABEL_BLANKET),
            element=CheckboxesElement(
                action_id=Element.BLANKET, options=[_option(truncate(f"Everyone at {domains}", OPTION_TEXT), "blanket")]
            ),
            optional=True,
        ),
    ]


MAX_GROUP_OPTIONS = 100  # Slack's cap on a static select; past it the admin types the group's name


def _group_blocks(form: RequestForm) -> list[SlackBlock]:
    """The IdP group the grant follows, when the org's IdP pushed groups: a list, or a name to type past 100."""
    if not form.groups:
        return []
    hint = PlainTextObject(text="Its members are whoever your identity provider says, as it changes.")
    if len(form.groups) > MAX_GROUP_OPTIONS:
        typed_hint = "Type the group's name as your identity provider shows it. " + hint.text
        return [
            InputBlock(
                block_id=Block.GROUP,
                label=PlainTextObject(text=LABEL_GROUP),
                element=PlainTextInputElement(action_id=Element.GROUP, max_length=256),
                optional=True,
                hint=PlainTextObject(text=truncate(typed_hint, PLAIN_LABEL)),
            )
        ]
    several = len({g.org_name for g in form.groups}) > 1
    options = [_option(f"{g.org_name} · {g.name}" if several else g.name, g.scim_id) for g in form.groups]
    return [
        InputBlock(
            block_id=Block.GROUP,
            label=PlainTextObject(text=LABEL_GROUP),
            element=StaticSelectElement(
                action_id=Element.GROUP, placeholder=PlainTextObject(text="Choose a group"), options=options
            ),
            optional=True,
            hint=hint,
        )
    ]


def _terms_blocks(form: RequestForm) -> list[SlackBlock]:
    """Tier, use case, duration (capped by the tier) and justification."""
    tiers = form.all_tiers()
    caps = "Capped by the tier: " + "; ".join(f"{t.name} {t.max_days}" for t in tiers)
    return [
        InputBlock(
            block_id=Block.TIER,
            label=PlainTextObject(text=LABEL_TIER),
            element=StaticSelectElement(
                action_id=Element.TIER,
                placeholder=PlainTextObject(text="Choose a tier"),
                options=[_tier_option(tier) for tier in tiers[:100]],
            ),
        ),
        _text_input(
            Block.USE_CASE,
            Element.USE_CASE,
            LABEL_USE_CASE,
            max_length=form.text_max,
            placeholder="What will the team use the capability for?",
        ),
        InputBlock(
            block_id=Block.DURATION,
            label=PlainTextObject(text=LABEL_DURATION),
            element=NumberInputElement(
                action_id=Element.DURATION,
                is_decimal_allowed=False,
                min_value="1",
                max_value=str(max((t.max_days for t in tiers), default=365)),
            ),
            hint=PlainTextObject(text=truncate(caps, PLAIN_LABEL)),
        ),
        _text_input(
            Block.JUSTIFICATION,
            Element.JUSTIFICATION,
            LABEL_JUSTIFICATION,
            min_length=form.justification_min,
            max_length=form.text_max,
            placeholder=f"Why does this team need trusted access? (at least {form.justification_min} characters)",
        ),
    ]


def build_request_modal(form: RequestForm) -> View:
    """The `/trust request` modal; an org select appears when the admin has several orgs."""
    single = form.orgs[0] if len(form.orgs) == 1 else None
    return View(
        type="modal",
        callback_id=ViewId.REQUEST_SUBMIT,
        title=PlainTextObject(text="Request trusted access"),
        submit=PlainTextObject(text="Submit"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=RequestFormMeta(org_slug=single.slug if single else None).model_dump_json(),
        blocks=[_org_block(form), *_scope_blocks(form), *_group_blocks(form), *_terms_blocks(form)],
    )


def _reason_modal(
    callback_id: str, title: str, intro: str, block: str, element: str, label: str, metadata: str, submit: str
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=truncate(title, MODAL_TITLE)),
        submit=PlainTextObject(text=truncate(submit, MODAL_TITLE)),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=truncate(intro, 3000))),
            _text_input(block, element, label),
        ],
    )


def build_deny_modal(ctx: DecisionContext, *, summary: str = "") -> View:
    """Asks the rep why the request is denied (callback `View.REQUEST_DENY_REASON`).

    `summary` is raw text (it names the org, which is directory text): it is escaped here.
    """
    return _reason_modal(
        ViewId.REQUEST_DENY_REASON,
        "Deny request",
        f"Deny access request #{ctx.request_id}. {safe(summary, 300)}".strip()
        + "\nThe requester will see your reason.",
        Block.REASON,
        Element.REASON,
        "Reason for denying",
        ctx.model_dump_json(),
        "Deny",
    )


def build_request_info_modal(ctx: DecisionContext, *, summary: str = "") -> View:
    """Asks the rep what to ask the requester (callback `View.REQUEST_INFO_QUESTION`); `summary` is raw text."""
    return _reason_modal(
        ViewId.REQUEST_INFO_QUESTION,
        "Request info",
        f"Ask the requester of #{ctx.request_id} for more information. {safe(summary, 300)}".strip()
        + "\nThey get your question by DM with a Reply button.",
        Block.QUESTION,
        Element.QUESTION,
        "Your question",
        ctx.model_dump_json(),
        "Send",
    )


def build_info_answer_modal(request_id: int, *, question: str | None, asked_by: str | None) -> View:
    """Lets the requester answer the rep's question (callback `View.REQUEST_INFO_ANSWER`)."""
    asker = mention(asked_by) if asked_by else "The account rep"
    intro = f"{asker} asked about access request #{request_id}:\n{quote(question, 2500) or '_no question recorded_'}"
    return _reason_modal(
        ViewId.REQUEST_INFO_ANSWER,
        "Answer question",
        intro,
        Block.ANSWER,
        Element.ANSWER,
        "Your answer",
        RequestRef(request_id=request_id).model_dump_json(),
        "Send",
    )


def build_revoke_modal(grant_id: int, *, summary: str = "") -> View:
    """Asks for the reason a grant is revoked (callback `View.GRANT_REVOKE_REASON`); `summary` is raw text."""
    view = _reason_modal(
        ViewId.GRANT_REVOKE_REASON,
        "Revoke grant",
        f"Revoke grant #{grant_id}. {safe(summary, 300)}".strip()
        + "\nAdmins and the requester are told, with your reason.",
        Block.REASON,
        Element.REASON,
        "Reason for revoking",
        GrantRef(grant_id=grant_id).model_dump_json(),
        "Revoke",
    )
    view.blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text="This cannot be undone; a new request is needed.")])
    )
    return view
