"""Every Slack `action_id` and `callback_id` Trustbot uses; handlers match on these only."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """Block action ids (buttons, selects)."""

    REQUEST_APPROVE = "request.approve"
    REQUEST_DENY = "request.deny"
    REQUEST_INFO = "request.request_info"
    REQUEST_REPLY = "request.reply"
    GRANT_REVOKE = "grant.revoke"
    GRANT_REVERIFY = "grant.reverify"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    ALERT_ESCALATE = "alert.escalate"
    ALERT_SUSPEND = "alert.suspend"
    ALERT_FALSE_POSITIVE = "alert.false_positive"
    ALERT_RESOLVE = "alert.resolve"
    ALERT_UNACKNOWLEDGE = "alert.unacknowledge"
    ALERT_SNOOZE = "alert.snooze"  # a static select: 1 hour, 4 hours, 24 hours
    ALERT_EVIDENCE = "alert.evidence"  # a link button: Slack opens the URL and tells us of the click
    CONNECT_REQUEST_ACCESS = "connect.request_access"  # the pinned button of an org's Slack Connect channel
    CONFIRM_IDENTITY = "identity.confirm"  # an org admin lifts a Shared Signals hold on one person


class View(StrEnum):
    """Modal callback ids."""

    REQUEST_SUBMIT = "request.submit"
    REQUEST_DENY_REASON = "request.deny_reason"
    REQUEST_INFO_QUESTION = "request.info_question"
    REQUEST_INFO_ANSWER = "request.info_answer"
    GRANT_REVOKE_REASON = "grant.revoke_reason"
    GRANT_REVERIFY_SUBMIT = "grant.reverify_submit"
    ALERT_SUSPEND_CONFIRM = "alert.suspend_confirm"


class Block(StrEnum):
    """Input block ids inside modals; inline validation errors are keyed by these."""

    MEMBERS = "members"
    BLANKET = "blanket"
    TIER = "tier"
    USE_CASE = "use_case"
    JUSTIFICATION = "justification"
    DURATION = "duration"
    ORG = "org"
    REASON = "reason"
    QUESTION = "question"
    ANSWER = "answer"
    ROSTER = "roster"
    ATTESTATIONS = "attestations"
    GROUP = "group"


class Element(StrEnum):
    """Action ids of input elements inside modals (read back from `view.state`)."""

    MEMBERS = "members_input"
    BLANKET = "blanket_input"
    TIER = "tier_input"
    USE_CASE = "use_case_input"
    JUSTIFICATION = "justification_input"
    DURATION = "duration_input"
    ORG = "org_input"
    REASON = "reason_input"
    QUESTION = "question_input"
    ANSWER = "answer_input"
    ROSTER = "roster_input"
    ATTESTATIONS = "attestations_input"
    GROUP = "group_input"
