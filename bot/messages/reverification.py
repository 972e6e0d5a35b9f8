"""Block Kit for re-verification: reminders with **Re-verify**, the modal, suspensions and restores."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from trustbot.ids import Action, Element
from trustbot.ids import Block as BlockId
from trustbot.ids import View as ViewId
from trustbot.messages.lifecycle import GrantInfo, Tz, days_phrase, grant_label, note
from trustbot.messages.text import Rendered, format_date, mention, mentions, plural, quote, safe, truncate
from trustbot.slack.payloads import GrantRef
from trustbot.storage.tables import AccessRequest

REVERIFY = "Re-verify"
ATTEST_ROSTER, ATTEST_USE_CASE = "roster", "use_case"
MAX_CHOICES = 20


def reverify_button(grant_id: int) -> ButtonElement:
    """The **Re-verify** button carrying a `GrantRef`."""
    return ButtonElement(
        text=PlainTextObject(text=REVERIFY),
        action_id=Action.GRANT_REVERIFY,
        value=GrantRef(grant_id=grant_id).model_dump_json(),
        style="primary",
    )


def _with_button(text: str, grant_id: int) -> Rendered:
    text = truncate(text, 3000)
    return Rendered(
        text=text,
        blocks=[SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[reverify_button(grant_id)])],
    )


def build_reminder_dm(info: GrantInfo, days_left: int, tz: Tz = None) -> Rendered:
    """DM to an admin: re-verification is due soon, with the **Re-verify** button."""
    due = format_date(info.grant.reverify_due_at, tz)
    return _with_button(
        f":clipboard: Re-verification of trusted-access {grant_label(info)} is due {days_phrase(days_left)} (*{due}*). "
        f"Confirm who is covered and that the use case is unchanged, or the grant will be suspended.",
        info.grant.pk,
    )


def build_suspended_dm(info: GrantInfo, tz: Tz = None) -> Rendered:
    """DM to an admin: the grant is suspended for a missed re-verification; re-verifying restores it."""
    return _with_button(
        f":large_orange_circle: Trusted-access {grant_label(info)} is *suspended*: its re-verification was due "
        f"{format_date(info.grant.reverify_due_at, tz)}. Re-verify it to restore access.",
        info.grant.pk,
    )


def build_suspended_note(info: GrantInfo, rep: str | None, tz: Tz = None) -> Rendered:
    """Thread note under the request (mentioning the rep): suspended for a missed re-verification."""
    who = f"{mention(rep)}: " if rep else ""
    return note(
        f"{who}:large_orange_circle: Grant #{info.grant.id} is suspended — re-verification was due "
        f"{format_date(info.grant.reverify_due_at, tz)} and no admin completed it."
    )


@dataclass(frozen=True)
class IdpRoster:
    """What the org's identity provider says of a grant's people: its group (name, size) and whom it withholds."""

    group: tuple[str, int] | None = None
    withheld: tuple[tuple[str, str], ...] = ()  # (Slack id of a named member, why the IdP withholds them)


def _idp_text(idp: IdpRoster) -> str:
    lines = ["*Your identity provider*"]
    if idp.group is not None:
        name, size = idp.group
        lines.append(f"Group *{safe(name, 200)}*: {plural(size, 'person', 'people')} now; it follows the IdP.")
    lines += [f"{mention(member)}: {safe(why, 200)} — not covered" for member, why in idp.withheld[:20]]
    if len(idp.withheld) > 20:
        lines.append(f"and {len(idp.withheld) - 20} more not covered")
    return truncate("\n".join(lines), 3000)


def build_reverify_modal(
    info: GrantInfo, request: AccessRequest | None, tz: Tz = None, idp: IdpRoster | None = None
) -> View:
    """The re-verification modal: the roster (admins may remove people), what the org's IdP says of it, and two
    required attestations."""
    grant = info.grant
    scope = f"everyone at {safe(', '.join(info.org.domains), 300) or 'the org’s domains'}" if grant.blanket else ""
    intro = (
        f"Re-verify {grant_label(info)}.\nDue {format_date(grant.reverify_due_at, tz)} · expires "
        f"{format_date(grant.expires_at, tz)} · "
        f"status *{grant.status}*" + (f"\nBlanket scope: {scope}" if scope else "")
    )
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(intro, 3000)))]
    if request is not None:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=truncate("*Use case on file*\n" + quote(request.use_case, 2500), 3000))
            )
        )
    if idp is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_idp_text(idp))))
    blocks.append(
        InputBlock(
            block_id=BlockId.ROSTER,
            optional=True,
            label=PlainTextObject(text="Team members still covered"),
            hint=PlainTextObject(text="Remove anyone who no longer needs access. To add people, submit a new request."),
            element=UserMultiSelectElement(
                action_id=Element.ROSTER,
                initial_users=list(grant.members) or None,
                placeholder=PlainTextObject(text="Nobody named"),
            ),
        )
    )
    blocks.append(
        InputBlock(
            block_id=BlockId.ATTESTATIONS,
            label=PlainTextObject(text="I confirm"),
            element=CheckboxesElement(
                action_id=Element.ATTESTATIONS,
                options=[
                    Option(value=ATTEST_ROSTER, text=PlainTextObject(text="The roster above is accurate")),
                    Option(value=ATTEST_USE_CASE, text=PlainTextObject(text="The use case is unchanged")),
                ],
            ),
        )
    )
    return View(
        type="modal",
        callback_id=ViewId.GRANT_REVERIFY_SUBMIT,
        title=PlainTextObject(text="Re-verify grant"),
        submit=PlainTextObject(text=REVERIFY),
        close=PlainTextObject(text="Cancel"),
        private_metadata=GrantRef(grant_id=grant.pk).model_dump_json(),
        blocks=blocks,
    )


def _removed(removed: list[str]) -> str:
    return f" Removed from the roster: {mentions(removed)}." if removed else " Roster unchanged."


def build_reverified_note(
    info: GrantInfo, rep: str | None, by: str, removed: list[str], restored: bool, tz: Tz = None
) -> Rendered:
    """Thread note under the request for the rep: who re-verified, roster changes, next due date."""
    who = f"{mention(rep)}: " if rep else ""
    back = " Access is *restored*." if restored else ""
    return note(
        f"{who}:white_check_mark: {mention(by)} re-verified grant #{info.grant.id}: roster accurate and use case "
        "unchanged."
        f"{_removed(removed)}{back} Next re-verification due {format_date(info.grant.reverify_due_at, tz)}."
    )


def build_reverified_dm(info: GrantInfo, removed: list[str], restored: bool, tz: Tz = None) -> Rendered:
    """DM to the admin who submitted (a modal has nowhere to answer ephemerally)."""
    back = " Access is restored." if restored else ""
    return note(
        f":white_check_mark: Thanks — {grant_label(info)} is re-verified.{_removed(removed)}{back} "
        f"Next re-verification is due {format_date(info.grant.reverify_due_at, tz)}."
    )


def build_restored_dm(info: GrantInfo, by: str) -> Rendered:
    """DM to the other admins: a suspended grant was re-verified and is active again."""
    return note(f":large_green_circle: {mention(by)} re-verified {grant_label(info)}; it is active again.")


def build_removed_member_dm(info: GrantInfo, by: str) -> Rendered:
    """DM to a person an admin removed from the roster."""
    return note(
        f"{mention(by)} removed you from trusted-access {grant_label(info)} during re-verification; you are no "
        "longer covered."
    )


def build_verify_choices(infos: list[GrantInfo], tz: Tz = None) -> Rendered:
    """Ephemeral list for `/trust verify` when several grants could be re-verified: one button each."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text="Which grant do you want to re-verify?"))]
    for info in infos[:MAX_CHOICES]:
        line = f"{grant_label(info)} · {info.grant.status} · due {format_date(info.grant.reverify_due_at, tz)}"
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=truncate(line, 3000)), accessory=reverify_button(info.grant.pk))
        )
    if len(infos) > MAX_CHOICES:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"… and {len(infos) - MAX_CHOICES} more; use `/trust verify <grant-id>`.")
                ]
            )
        )
    return Rendered(text=f"{plural(len(infos), 'grant')} can be re-verified.", blocks=blocks)
