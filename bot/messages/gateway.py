"""Messages about what the gateway hears and who a grant covers: undelivered events, members removed by Slack."""

from __future__ import annotations

from trustbot.messages.lifecycle import GrantInfo, grant_label, note
from trustbot.messages.text import Rendered, mention, safe


def build_webhook_undelivered_notice(event_type: str, grant_id: int, org_name: str, error: str) -> Rendered:
    """DM to operators: the gateway never took a grant change event, so it may still allow or refuse the old way."""
    return note(
        f":warning: The gateway never accepted the `{safe(event_type, 64)}` event of grant #{grant_id} for "
        f"*{safe(org_name, 200)}* (last error: `{safe(error, 200)}`); Trustbot stopped retrying. "
        "The gateway may still enforce the old state: have it resync from `/v1/grants`."
    )


def build_member_removed_notice(info: GrantInfo, person: str, why: str) -> Rendered:
    """DM to admins and the rep: Slack showed a covered person as no longer a verified member of the org."""
    return note(
        f"{mention(person)} was removed from trusted-access {grant_label(info)}: {safe(why, 300)}. "
        "They are no longer covered."
    )
