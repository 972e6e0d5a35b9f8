"""Limits on what people type into requests and decisions (the domain's, not a modal's)."""

from __future__ import annotations

from trustbot.services.errors import InvalidInput

TEXT_MAX = 3000  # use case, justification, reasons, questions, answers
JUSTIFICATION_MIN = 20
MAX_MEMBERS = 500  # named members per request; more is what Blanket is for


def typed_text(text: str | None, block: str, what: str) -> str:
    """Stripped typed text of 1..`TEXT_MAX` characters, or `InvalidInput` keyed by `block`."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput(f"Give a {what}.", errors={block: f"Give a {what}."})
    if len(value) > TEXT_MAX:
        message = f"Keep it to {TEXT_MAX} characters (it has {len(value)})."
        raise InvalidInput(f"Keep the {what} to {TEXT_MAX} characters.", errors={block: message})
    return value
