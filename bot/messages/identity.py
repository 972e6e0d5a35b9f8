"""Messages about what a customer's identity provider changed: the admins' digest of one sync burst."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trustbot.messages.lifecycle import note
from trustbot.messages.text import Rendered, plural, safe

# How each kind of change reads in the digest, in the order shown.
CHANGE_WORDS: dict[str, str] = {
    "idp_took_over": "the identity provider now decides who is covered",
    "provisioned": "provisioned",
    "reactivated": "reactivated",
    "deactivated": "deactivated (no longer covered)",
    "deprovisioned": "deprovisioned (no longer covered)",
    "address_changed": "address changed",
    "joined_group": "added to a group",
    "left_group": "removed from a group",
    "group_deleted": "group deleted",
}
NAMED_PER_KIND = 5


def build_identity_digest(org_name: str, changes: Mapping[str, Sequence[str]], total: int) -> Rendered:
    """DM to the org's admins: what one sync burst of their IdP changed, counted by kind with a few addresses."""
    lines = [
        f":busts_in_silhouette: *{safe(org_name, 200)}*'s identity provider changed who is covered "
        f"({plural(total, 'change', 'changes')}):"
    ]
    for kind, words in CHANGE_WORDS.items():
        if kind not in changes:
            continue
        addresses = list(dict.fromkeys(a for a in changes[kind] if a))
        if not addresses:
            lines.append(f"• {words}")
            continue
        shown = ", ".join(safe(a, 320) for a in addresses[:NAMED_PER_KIND])
        more = len(addresses) - NAMED_PER_KIND
        tail = f" and {more} more" if more > 0 else ""
        lines.append(f"• {plural(len(addresses), 'person', 'people')} {words}: {shown}{tail}")
    lines.append("Trusted access follows the identity provider at once; `/v1/entitlements` already answers so.")
    return note("\n".join(lines))
