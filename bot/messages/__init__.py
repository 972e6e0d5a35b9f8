"""Pure Block Kit builders (`slack_sdk.models.blocks`): data in, `Rendered(text, blocks)` or a `View` out.

Modules: `text` (escaping, limits, mentions, dates), `requests` (rep-channel parent, its thread,
DMs), `request_modals` (request form and reason modals), `grants` (grant lists, `/trust status`),
`help` (`/trust help`).
"""

from trustbot.messages.text import Rendered, escape_mrkdwn, mention, safe, truncate

__all__ = ["Rendered", "escape_mrkdwn", "mention", "safe", "truncate"]
