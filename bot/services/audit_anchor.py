"""What ties the audit chain to TRUSTBOT_AUDIT_KEY, so that a chain rewritten without the key is caught.

Someone who can write the database but lacks the key can recompute every event as plain SHA-256 and
delete every checkpoint: each link and hash then checks out on its own. Three rules close that:

- `trustbot serve`, started with the key over a chain that holds no keyed event, first records a keyed
  `audit.keyed` event saying from which event the chain is keyed (and posts it to the audit channel).
  From it on every event must be keyed: a plain one after it is a downgrade. With the key set, a chain
  that holds no keyed event — an empty one included — is not intact, since nothing ties it to the key.
- Each signed checkpoint first appends a keyed `audit.checkpoint` event, so the chain itself records
  that checkpoints were taken. When the checkpoint table lacks a signed one reaching that event, they
  were deleted: `audit verify` fails, and the job records no checkpoint (it would sign a forged head).
- `audit verify` warns while the key is set and no signed checkpoint exists yet.

What the database alone cannot show: the newest events cut together with the checkpoints taken after
them. The audit channel's copies (`trustbot audit verify --checkpoint COUNT:HASH`) catch that.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services import outbox
from trustbot.services.audit import CHECKPOINT_ACTION, KEYED_FROM_ACTION, audit_key, check_audit_key, record_audit
from trustbot.services.context import ServiceContext
from trustbot.storage.queries import audit as q
from trustbot.storage.tables.audit import KEYED

UNANCHORED = (
    "TRUSTBOT_AUDIT_KEY is set but the chain holds no keyed event, so nothing ties it to the key "
    "(`trustbot serve` records one when it starts with the key); if serve ran with this key, the chain "
    "was rewritten without it"
)
NO_SIGNED_CHECKPOINT = (
    "TRUSTBOT_AUDIT_KEY is set but no signed checkpoint exists yet: run `trustbot jobs run audit-checkpoint` "
    "and keep the audit channel's copy"
)


def checkpoints_gone(recorded: int, highest: int | None) -> str:
    """Why a chain that records a checkpoint at event #`recorded` does not match a table reaching only `highest`."""
    stored = "no signed checkpoint is stored" if highest is None else f"the stored ones reach only event #{highest}"
    return f"the chain records a signed checkpoint at event #{recorded}, but {stored}: checkpoints were deleted"


async def anchor_problem(session: AsyncSession, key: bytes | None) -> str | None:
    """With a key, why the chain is not tied to it (no keyed event, or checkpoints it records are gone); else None."""
    if key is None:
        return None
    if await q.first_keyed_position(session, keyed=KEYED) is None:
        return UNANCHORED
    recorded = await q.latest_position_of_action(session, action=CHECKPOINT_ACTION, scheme=KEYED)
    if recorded is None:
        return None
    highest = await q.highest_signed_checkpoint_count(session)
    if highest is None or highest < recorded:
        return checkpoints_gone(recorded, highest)
    return None


async def prepare_audit_chain(session: AsyncSession, ctx: ServiceContext) -> int | None:
    """At start: refuse without the key of a keyed chain; with a key and no keyed event yet, key the chain from here.

    Returns the position the chain is keyed from when this call keyed it, else None.
    """
    await check_audit_key(session, ctx.settings)
    if audit_key(ctx.settings) is None:
        return None
    await q.lock_chain(session)
    if await q.first_keyed_position(session, keyed=KEYED) is not None:
        return None
    head = await q.chain_head(session)
    plain = head.count if head is not None else 0
    details = {"keyed_from": plain + 1, "plain_before": plain}
    await record_audit(session, ctx, action=KEYED_FROM_ACTION, subject="audit", details=details)
    if ctx.settings.audit_channel:
        text = (
            f"The audit log is keyed with TRUSTBOT_AUDIT_KEY from event #{plain + 1} on; the {plain} events before "
            "it stay plain SHA-256. This happens once, when Trustbot first runs with the key: if nobody just set "
            "the key, the log was rewritten without it — run `trustbot audit verify`."
        )
        outbox.post_message(session, channel=ctx.settings.audit_channel, key="audit-keyed", message=text)
    return plain + 1
