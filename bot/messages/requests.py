"""Block Kit for access requests in Slack: the rep-channel parent, its thread, and the DMs.

Pure functions: data in, `Rendered(text, blocks)` out. Every typed string is escaped and cut.
The parent message never carries buttons; the decision buttons live in a thread reply (the
"actions message"), which is edited to drop them once the request is decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from trustbot.ids import Action
from trustbot.messages.text import (
    FIELD_TEXT,
    Rendered,
    format_date,
    format_datetime,
    mention,
    mentions,
    plural,
    quote,
    safe,
    truncate,
)
from trustbot.slack.payloads import RequestRef
from trustbot.storage.tables import (
    OPEN_REQUESTS,
    AccessRequest,
    Grant,
    GrantStatus,
    Org,
    RequestStatus,
    Tier,
    approvals_needed,
)

APPROVE, DENY, REQUEST_INFO, REPLY = "Approve", "Deny", "Request info", "Reply"


@dataclass(frozen=True)
class RequestCard:
    """Everything the request messages show: the request, its org and tier, who decides."""

    request: AccessRequest
    org: Org
    tier: Tier | None
    rep: str | None
    approvers: tuple[str, ...] = ()
    grant: Grant | None = None
    # Named members the grant left out because, checked again at approval, they no longer qualify ("X is deactivated").
    left_out: tuple[str, ...] = ()
    # The IdP group it covers: its name and how many people the IdP puts in it now.
    group: tuple[str, int] | None = None

    @property
    def approvals_needed(self) -> int:
        """Different approvers the request needs (`approvals_needed`)."""
        return approvals_needed(self.tier)

    @property
    def tier_name(self) -> str:
        """The tier's display name (its id when it vanished)."""
        return self.tier.name if self.tier else self.request.tier_id


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_md(truncate(text, 3000)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_md(truncate(text, 3000))])


def org_label(org: Org) -> str:
    """`*Acme Security* (acme)`, escaped."""
    return f"*{safe(org.name, 200)}* ({safe(org.slug, 64)})"


def scope_text(request: AccessRequest, org: Org, group: tuple[str, int] | None = None) -> str:
    """Who the request covers and how many: named people, an IdP group and/or everyone at the org's domains."""
    parts: list[str] = []
    if request.blanket:
        domains = ", ".join(safe(d, 100) for d in org.domains[:20]) or "the org's verified domains (none on file)"
        more = f" and {len(org.domains) - 20} more" if len(org.domains) > 20 else ""
        parts.append(f"everyone at {domains}{more}")
    if request.members:
        parts.append(f"{plural(len(request.members), 'named person', 'named people')}: {mentions(request.members)}")
    if request.scim_group_id is not None:
        name, size = group or ("(deleted)", 0)
        parts.append(f"the identity provider's group *{safe(name, 200)}* ({plural(size, 'person', 'people')} now)")
    return truncate(" plus ".join(parts) or "nobody named", FIELD_TEXT - 20)


def scope_summary(request: AccessRequest | Grant, org: Org) -> str:
    """A short scope for one-line texts: `blanket (acme.com) + 2 people` or `3 people`."""
    parts = []
    if request.blanket:
        parts.append("blanket (" + truncate(", ".join(org.domains) or "no domains", 80) + ")")
    if request.members:
        parts.append(plural(len(request.members), "person", "people"))
    if request.scim_group_id is not None:
        parts.append("IdP group")
    return escape_join(parts)


def escape_join(parts: list[str]) -> str:
    """Join already-short parts with ` + `, escaped."""
    return safe(" + ".join(parts) or "nobody", 200)


def status_line(card: RequestCard, tz: tzinfo | str | None) -> str:
    """One mrkdwn line saying where the request stands (who, when, why)."""
    req = card.request
    when = format_datetime(req.decided_at, tz) if req.decided_at else ""
    if req.status == RequestStatus.APPROVED:
        line = f":white_check_mark: *Approved* by {mentions(list(card.approvers) or [req.decided_by or '?'])} on {when}"
        grant = card.grant
        if grant is not None and grant.status == GrantStatus.ACTIVE:
            line += f" — grant #{grant.id} expires {format_date(grant.expires_at, tz)}"
        elif grant is not None:
            line += f" — grant #{grant.id} is now *{grant.status}*"
            if grant.status == GrantStatus.REVOKED:
                line += f" (by {mention(grant.ended_by or '?')}: {safe(grant.end_reason, 500)})"
        return line
    if req.status == RequestStatus.DENIED:
        reason = safe(req.decision_reason, 1500)
        return f":no_entry: *Denied* by {mention(req.decided_by or '?')} on {when}\n*Reason:* {reason}"
    if req.status == RequestStatus.INFO_REQUESTED:
        return (
            f":speech_balloon: *More information requested* by {mention(req.info_asked_by or '?')}\n"
            f"*Question:* {safe(req.info_question, 1200)}"
        )
    if req.status == RequestStatus.WITHDRAWN:
        return f":leftwards_arrow_with_hook: *Withdrawn* {when}".rstrip()
    if req.status == RequestStatus.EXPIRED:
        return ":hourglass: *Expired* without a decision"
    needed = card.approvals_needed
    if card.approvers and len(card.approvers) < needed:
        return (
            f":hourglass_flowing_sand: *Pending* — {len(card.approvers)} of {needed} approvals "
            f"({mentions(list(card.approvers))}); needs another approver"
        )
    waiting = mention(card.rep) if card.rep else "the account rep"
    extra = f" ({needed} approvals needed)" if needed > 1 else ""
    answer = f"\n*Answer from the requester:* {safe(req.info_answer, 1200)}" if req.info_answer else ""
    return f":hourglass_flowing_sand: *Pending* — awaiting {waiting}{extra}; decide in the thread{answer}"


def build_request_parent(card: RequestCard, tz: tzinfo | str | None = None) -> Rendered:
    """The rep-channel message: org, requester, scope and count, tier, use case, duration, justification, rep."""
    req = card.request
    rep = mention(card.rep) if card.rep else "_no rep on file_"
    blocks: list[Block] = [
        _section(
            f"*Access request #{req.id}* for {org_label(card.org)}\nRequested by {mention(req.requester)} · Account "
            f"rep: {rep}"
        ),
        SectionBlock(
            fields=[
                _md(f"*Scope*\n{scope_text(req, card.org, card.group)}"),
                _md(f"*Capability tier*\n{safe(card.tier_name, 100)} ({plural(card.approvals_needed, 'approval')})"),
                _md(f"*Duration*\n{plural(req.duration_days, 'day')}"),
                _md(f"*Submitted*\n{format_datetime(req.created_at, tz)}"),
            ]
        ),
        _section("*Use case*\n" + quote(req.use_case, 2900)),
        _section("*Justification*\n" + quote(req.justification, 2900)),
        _context(status_line(card, tz)),
    ]
    text = (
        f"Access request #{req.id} from {mention(req.requester)} for {safe(card.org.name, 200)}: "
        f"{safe(card.tier_name, 100)} tier, {plural(req.duration_days, 'day')}, {scope_summary(req, card.org)} — "
        f"{rep} ({req.status})"
    )
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def decision_buttons(request_id: int) -> ActionsBlock:
    """Approve (primary), Deny (danger) and Request info, each carrying a `RequestRef`."""
    value = RequestRef(request_id=request_id).model_dump_json()
    return ActionsBlock(
        block_id=f"request_actions:{request_id}",
        elements=[
            ButtonElement(
                text=PlainTextObject(text=APPROVE), action_id=Action.REQUEST_APPROVE, value=value, style="primary"
            ),
            ButtonElement(text=PlainTextObject(text=DENY), action_id=Action.REQUEST_DENY, value=value, style="danger"),
            ButtonElement(text=PlainTextObject(text=REQUEST_INFO), action_id=Action.REQUEST_INFO, value=value),
        ],
    )


def build_request_actions(card: RequestCard, tz: tzinfo | str | None = None) -> Rendered:
    """The thread reply holding the decision buttons while the request is open; no buttons after."""
    req = card.request
    if req.status not in OPEN_REQUESTS:
        line = status_line(card, tz)
        return Rendered(text=f"Request #{req.id} is {req.status}.", blocks=[_section(line)])
    who = mention(card.rep) if card.rep else "Account reps"
    needed = card.approvals_needed
    note = f" This tier needs {needed} approvals from different people." if needed > 1 else ""
    if card.approvers:
        note += f" Approved so far by {mentions(list(card.approvers))}."
    text = f"{who}, please decide on access request #{req.id}.{note}"
    return Rendered(text=truncate(text, 3000), blocks=[_section(text), decision_buttons(req.pk)])


def build_thread_note(text: str) -> Rendered:
    """A plain thread reply (`text` is trusted mrkdwn the caller already escaped)."""
    return Rendered(text=truncate(text, 3000), blocks=[_section(text)])


def build_member_dropped_note(card: RequestCard, why: str) -> Rendered:
    """Thread reply: a named member left the org while the request waited, so it no longer names them."""
    return build_thread_note(
        f":bust_in_silhouette: Taken off request #{card.request.id} because Slack now shows that "
        f"{safe(why, 500)}. It names {plural(len(card.request.members), 'person', 'people')} now."
    )


def build_approval_recorded_note(card: RequestCard, approver: str) -> Rendered:
    """Thread reply for a first approval on a two-approval tier: "1 of 2 approvals"."""
    count, needed = len(card.approvers), card.approvals_needed
    return build_thread_note(
        f":ballot_box_with_check: {mention(approver)} approved — {count} of {needed} approvals. "
        f"Another approver (not the requester) is needed."
    )


def left_out_line(left_out: tuple[str, ...]) -> str:
    """`\nLeft out (no longer verified people of the org): Dana Dev is deactivated.`, or "" when nobody was."""
    if not left_out:
        return ""
    return "\nLeft out (no longer verified people of the org): " + safe("; ".join(left_out), 1500) + "."


def build_approved_note(card: RequestCard, tz: tzinfo | str | None = None) -> Rendered:
    """Thread reply once a request is approved and its grant exists."""
    grant = card.grant
    tail = f" Grant #{grant.id} is active until {format_date(grant.expires_at, tz)}." if grant else ""
    text = f":white_check_mark: Approved by {mentions(list(card.approvers))}.{tail}{left_out_line(card.left_out)}"
    return build_thread_note(text)


def build_denied_note(card: RequestCard) -> Rendered:
    """Thread reply once a request is denied."""
    req = card.request
    return build_thread_note(
        f":no_entry: Denied by {mention(req.decided_by or '?')}.\n*Reason:*\n{quote(req.decision_reason, 2500)}"
    )


def build_info_requested_note(card: RequestCard) -> Rendered:
    """Thread reply: who asked the requester what."""
    req = card.request
    return build_thread_note(
        f":speech_balloon: {mention(req.info_asked_by or '?')} asked {mention(req.requester)} for more information:\n"
        f"{quote(req.info_question, 2500)}"
    )


def build_info_answered_note(card: RequestCard, answered_by: str, answer: str) -> Rendered:
    """Thread reply carrying the answer, mentioning whoever asked."""
    asker = mention(card.request.info_asked_by) if card.request.info_asked_by else "Account reps"
    return build_thread_note(
        f"{asker}: {mention(answered_by)} answered:\n{quote(answer, 2500)}\nThe request is pending again."
    )


def build_requester_approved_dm(card: RequestCard, tz: tzinfo | str | None = None) -> Rendered:
    """DM to the requester: approved, with the grant's expiry and re-verification dates."""
    req, grant = card.request, card.grant
    text = f":white_check_mark: Your access request #{req.id} for {safe(card.org.name, 200)} was approved."
    if grant is not None:
        text += (
            f"\nGrant #{grant.id} ({safe(card.tier_name, 100)} tier, {scope_summary(req, card.org)}) is active until "
            f"*{format_date(grant.expires_at, tz)}*. Re-verification is due by "
            f"{format_date(grant.reverify_due_at, tz)}."
        )
    return build_thread_note(text + left_out_line(card.left_out))


def build_member_covered_dm(card: RequestCard, tz: tzinfo | str | None = None) -> Rendered:
    """DM to a named member: they are now covered by the grant."""
    grant = card.grant
    until = f" until {format_date(grant.expires_at, tz)}" if grant else ""
    number = f" #{grant.id}" if grant else ""
    return build_thread_note(
        f"You are now covered by trusted-access grant{number} for {safe(card.org.name, 200)} "
        f"({safe(card.tier_name, 100)} tier){until}, requested by {mention(card.request.requester)}."
    )


def build_requester_denied_dm(card: RequestCard) -> Rendered:
    """DM to the requester: denied, and why."""
    req = card.request
    return build_thread_note(
        f":no_entry: Your access request #{req.id} for {safe(card.org.name, 200)} was denied by "
        f"{mention(req.decided_by or '?')}.\n*Reason:*\n{quote(req.decision_reason, 2500)}"
    )


def build_info_question_dm(card: RequestCard) -> Rendered:
    """DM to the requester with the rep's question and a **Reply** button."""
    req = card.request
    text = (
        f":speech_balloon: {mention(req.info_asked_by or '?')} needs more information about your access request "
        f"#{req.id} for {safe(card.org.name, 200)}:\n{quote(req.info_question, 2500)}"
    )
    button = ButtonElement(
        text=PlainTextObject(text=REPLY),
        action_id=Action.REQUEST_REPLY,
        value=RequestRef(request_id=req.pk).model_dump_json(),
        style="primary",
    )
    return Rendered(text=truncate(text, 3000), blocks=[_section(text), ActionsBlock(elements=[button])])


def build_request_submitted_ack(card: RequestCard) -> Rendered:
    """What the requester sees after submitting: where the request went and what happens next."""
    req = card.request
    rep = mention(card.rep) if card.rep else "the account rep"
    return build_thread_note(
        f":inbox_tray: Access request #{req.id} for {safe(card.org.name, 200)} is submitted "
        f"({safe(card.tier_name, 100)} tier, {plural(req.duration_days, 'day')}, {scope_summary(req, card.org)}). "
        f"{rep} will decide; you'll get a DM."
    )


def build_approval_ack(
    request_id: int, *, grant_id: int | None, approvals: int, needed: int, left_out: tuple[str, ...] = ()
) -> Rendered:
    """The approver's ephemeral confirmation: the grant is active (and who it left out), or how many approvals
    are still needed."""
    if grant_id is not None:
        return build_thread_note(
            f"Approved request #{request_id}; grant #{grant_id} is active.{left_out_line(left_out)}"
        )
    return build_thread_note(f"Recorded your approval of request #{request_id}: {approvals} of {needed} approvals.")


def build_request_refused_notice(card: RequestCard, channel: str, error: str) -> Rendered:
    """What operators read when Slack refused to post a request in the reps channel."""
    req = card.request
    return build_thread_note(
        f":warning: Slack refused to post access request #{req.id} in <#{channel}> (`{safe(error, 60)}`), so its "
        f"account rep cannot decide on it there. Invite Trustbot to <#{channel}> (or fix `reps_channel`).\n"
        f"Request #{req.id} from {mention(req.requester)} for {org_label(card.org)}: {safe(card.tier_name, 100)} tier, "
        f"{plural(req.duration_days, 'day')}, {scope_summary(req, card.org)}."
    )
