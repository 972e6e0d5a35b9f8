"""Text helpers for Block Kit: escaping typed input, Slack's length limits, mentions, dates.

Every string a person typed passes through `safe()` (or `escape_mrkdwn` + `truncate`) before it
reaches mrkdwn, so `<!channel>`, `<@U…>` and `<https://x|y>` arrive as inert text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

ELLIPSIS = "…"

# Slack limits (https://api.slack.com/reference/block-kit).
SECTION_TEXT = 3000
CONTEXT_TEXT = 3000
FIELD_TEXT = 2000
PLAIN_LABEL = 150  # keep labels, titles, placeholders short
OPTION_TEXT = 75  # option and button text
MODAL_TITLE = 24  # a modal's title and submit label
MESSAGE_TEXT = 3000  # our own cap on the `text` fallback
BUTTON_VALUE = 2000
BUTTON_URL = 3000
PRIVATE_METADATA = 3000

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<` and `>` so mentions, links and special commands in `text` stay inert."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def unescape_mrkdwn(text: str) -> str:
    """Undo `escape_mrkdwn` (the three entities only)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _safe_cut(text: str, at: int) -> int:
    """The cut position at or before `at` that splits no entity (`&amp;`) and no `<…>` (a mention or link)."""
    amp, semi = text.rfind("&", 0, at), text.rfind(";", 0, at)
    if amp > semi and text.find(";", amp) != -1 and text.find(";", amp) - amp <= 5:
        at = amp
    opening, closing = text.rfind("<", 0, at), text.rfind(">", 0, at)
    if opening > closing:
        at = opening
    return at


def truncate(text: str, limit: int) -> str:
    """Cut mrkdwn to at most `limit` characters, ending with an ellipsis when anything was cut.

    The cut never falls inside an entity like `&amp;` or a `<@U…>` / `<url|label>`: half of one would
    show as garbage, or break the rest of the message.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - 1)].rstrip() + ELLIPSIS


def safe(text: str | None, limit: int = SECTION_TEXT) -> str:
    """Escape typed text for mrkdwn and cut it to `limit` characters without splitting an entity."""
    if not text:
        return ""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def quote(text: str | None, limit: int = SECTION_TEXT) -> str:
    """Typed text as an escaped mrkdwn block quote (every line prefixed with `>`)."""
    body = safe(text, max(limit - 2 * (text or "").count("\n") - 2, 1))
    return "\n".join("> " + line for line in body.split("\n")) if body else ""


def mention(user_id: str) -> str:
    """A user mention for mrkdwn; ids that are not Slack user ids are shown escaped instead."""
    if user_id and user_id.isalnum() and user_id[:1] in ("U", "W"):
        return f"<@{user_id}>"
    return escape_mrkdwn(user_id or "someone")


def mentions(user_ids: list[str] | tuple[str, ...], *, limit: int = 20) -> str:
    """Several mentions, comma separated, with "and N more" past `limit`."""
    shown = [mention(user) for user in user_ids[:limit]]
    extra = len(user_ids) - len(shown)
    return ", ".join(shown) + (f" and {extra} more" if extra > 0 else "")


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return ZoneInfo("UTC")
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz


def zone_name(tz: tzinfo | str | None) -> str:
    """A short name for the zone, e.g. `UTC` or `Europe/Berlin`."""
    zone = _zone(tz)
    return getattr(zone, "key", None) or str(zone)


def format_date(value: datetime | date | None, tz: tzinfo | str | None = None) -> str:
    """`2027-06-30` in the display zone (aware datetimes are converted; dates shown as is)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(_zone(tz)).strftime("%Y-%m-%d")
    return value.isoformat()


def format_datetime(value: datetime | None, tz: tzinfo | str | None = None) -> str:
    """`2027-06-30 14:05 UTC` in the display zone."""
    if value is None:
        return "—"
    local = value.astimezone(_zone(tz))
    return f"{local.strftime('%Y-%m-%d %H:%M')} {zone_name(tz)}"


def slack_date(value: datetime | None, *, with_time: bool = True) -> str:
    """`<!date^…>`: Slack shows `value` in each reader's own zone; the fallback (old clients, notifications) is UTC."""
    if value is None:
        return "—"
    token = "{date_short_pretty} {time}" if with_time else "{date_short_pretty}"
    fallback = format_datetime(value, "UTC") if with_time else format_date(value, "UTC")
    return f"<!date^{int(value.timestamp())}^{token}|{fallback}>"


def money(amount: Decimal) -> str:
    """`$250,000.00`."""
    return f"${amount:,.2f}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 person`, `3 people`."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


@dataclass(frozen=True)
class Rendered:
    """A message ready for Slack: the notification/fallback `text` and its Block Kit `blocks`."""

    text: str
    blocks: list[Block]

    def to_dict(self) -> dict[str, Any]:
        """`{"text": …, "blocks": [...]}` as `chat.postMessage` and `respond()` take it."""
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}
