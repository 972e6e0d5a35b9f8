"""What Slack's error codes mean for Trustbot: every code the product reacts to is classified here, once.

Slack answers a refused Web API call with `ok: false` and an `error` code (and a 429 or 5xx for
rate limits and outages). Delivery, the alert circuit breaker and the undelivered-message
handler all ask this module what a code means, so a code is never retried in one place and
treated as final in another.
"""

from __future__ import annotations

from enum import StrEnum


class SlackErrorKind(StrEnum):
    """How a refused Slack call is handled."""

    RATE_LIMIT = "rate_limit"  # wait (the lane is held); never counts as a failed attempt
    TRANSIENT = "transient"  # back off and try again
    CHANNEL_REFUSAL = "channel_refusal"  # the channel or person will not take it: tell people another way
    BLOCKS = "blocks"  # the formatting was refused: send the plain-text version instead
    AUTH = "auth"  # the token is revoked, expired or lacks what it needs: a person must act
    FATAL = "fatal"  # anything else: the write is given up


RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited", "message_limit_exceeded"})
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# Slack says these may have partly succeeded: the next attempt looks for the post before posting again.
AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error"})
CHANNEL_REFUSALS = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "messages_tab_disabled",
        "user_disabled",
        "cannot_dm_bot",
    }
)
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long"})
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "org_login_required",
        "ekm_access_denied",
        "not_allowed_token_type",
    }
)
# The AUTH errors that say the token itself is dead (revoked, the workspace gone or deactivated), not
# that one call lacked a scope: a customer installation answering these is broken until reinstalled.
DEAD_TOKEN_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "ekm_access_denied"}
)
# A write Slack refuses because it was already carried out (an earlier attempt's answer was lost): done.
ALREADY_DONE_ERRORS = frozenset({"already_pinned"})
# users.info answers these when Slack knows no such person (not an outage: the answer is final).
USER_GONE_ERRORS = frozenset({"user_not_found", "users_not_found"})
# A channel that hit Slack's per-channel message cap is held much longer than a plain 429
# (for TRUSTBOT_MESSAGE_LIMIT_HOLD_SECONDS).
MESSAGE_LIMIT_EXCEEDED = "message_limit_exceeded"

_KINDS = (
    (RATE_LIMIT_ERRORS, SlackErrorKind.RATE_LIMIT),
    (TRANSIENT_ERRORS, SlackErrorKind.TRANSIENT),
    (CHANNEL_REFUSALS, SlackErrorKind.CHANNEL_REFUSAL),
    (BLOCK_ERRORS, SlackErrorKind.BLOCKS),
    (AUTH_ERRORS, SlackErrorKind.AUTH),
)


def classify_error(code: str, *, status: int = 200) -> SlackErrorKind:
    """The kind of a refused call, from its HTTP status and Slack's `error` code."""
    if status == 429:
        return SlackErrorKind.RATE_LIMIT
    if status >= 500:
        return SlackErrorKind.TRANSIENT
    for codes, kind in _KINDS:
        if code in codes:
            return kind
    return SlackErrorKind.FATAL


def is_retryable(code: str, *, status: int = 200) -> bool:
    """Whether a call refused this way is worth trying again later."""
    return classify_error(code, status=status) in (SlackErrorKind.RATE_LIMIT, SlackErrorKind.TRANSIENT)
