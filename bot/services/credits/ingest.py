"""`POST /usage` (the ingest contract): strict records, idempotent by the producer's id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.context import ServiceContext
from trustbot.services.fields import Timestamp, Token
from trustbot.storage.queries.credits import credit_grants_by_ids, lock_usage, usage_records_by_ids
from trustbot.storage.queries.directory import orgs_by_slugs
from trustbot.storage.tables import CreditGrant, Org, UsageRecord


def _amount(value: object) -> Decimal:
    # A JSON number only (no strings, no booleans), read exactly via its decimal text.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a number of US dollars")  # a ValueError: pydantic reports it as the field's error
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a number of US dollars") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    return amount


class UsageIn(BaseModel):
    """One usage record as the producer sends it; strict, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Annotated[Token, Field(min_length=1, max_length=128)]
    org: Annotated[Token, Field(min_length=1, max_length=64)]
    amount_usd: Annotated[Decimal, BeforeValidator(_amount), Field(gt=0, max_digits=14, decimal_places=4)]
    occurred_at: Timestamp
    credit_grant: Annotated[Token, Field(min_length=1, max_length=128)] | None = None


@dataclass(frozen=True)
class UsageResult:
    """What `POST /usage` answers."""

    accepted: int
    duplicates: int


class UsageRejected(Exception):
    """An item names something the directory does not know; nothing of the batch is stored."""

    def __init__(self, item: int, field: str, message: str) -> None:
        super().__init__(f"item {item}, field {field}: {message}")
        self.item, self.field, self.message = item, field, message


class UsageConflict(Exception):
    """A resent id whose org, amount, time or credit grant differ from the stored record; nothing is stored."""

    def __init__(self, item: int, usage_id: str) -> None:
        super().__init__(f"item {item}: usage id {usage_id!r} was already received with other content")
        self.item, self.usage_id = item, usage_id


def _same(record: UsageRecord, item: UsageIn, org_id: int) -> bool:
    return (record.org_id, record.amount_usd, record.occurred_at, record.credit_grant_id) == (
        org_id,
        item.amount_usd,
        item.occurred_at,
        item.credit_grant,
    )


def _check_known(items: Sequence[UsageIn], orgs: dict[str, Org], grants: dict[str, CreditGrant]) -> None:
    for index, item in enumerate(items):
        org = orgs.get(item.org.lower())
        if org is None:
            raise UsageRejected(index, "org", f"unknown org `{item.org}`")
        if item.credit_grant is not None:
            grant = grants.get(item.credit_grant)
            if grant is None or grant.org_id != org.id:
                problem = f"unknown credit grant `{item.credit_grant}` for org `{item.org}`"
                raise UsageRejected(index, "credit_grant", problem)


async def ingest_usage(session: AsyncSession, ctx: ServiceContext, items: Sequence[UsageIn]) -> UsageResult:
    """Store every new usage record; a resent id with the same content is a duplicate.

    Raises `UsageRejected` for an unknown org or a credit grant that is not that org's, and
    `UsageConflict` for a resent id with other content (money is never silently dropped or doubled).
    Usage ingest is serialised, so the same id sent many times at once is stored once.
    """
    await lock_usage(session)
    orgs = await orgs_by_slugs(session, slugs={i.org.lower() for i in items})
    _check_known(
        items, orgs, await credit_grants_by_ids(session, ids={i.credit_grant for i in items if i.credit_grant})
    )
    stored = await usage_records_by_ids(session, ids=[i.id for i in items])
    fresh: dict[str, UsageIn] = {}
    for index, item in enumerate(items):
        org_id = orgs[item.org.lower()].pk
        earlier = stored.get(item.id)
        if (earlier is not None and not _same(earlier, item, org_id)) or fresh.get(item.id, item) != item:
            raise UsageConflict(index, item.id)
        if earlier is None and item.id not in fresh:
            fresh[item.id] = item
            record = UsageRecord(
                id=item.id,
                org_id=org_id,
                credit_grant_id=item.credit_grant,
                amount_usd=item.amount_usd,
                occurred_at=item.occurred_at,
                received_at=ctx.now(),
            )
            session.add(record)
    await session.flush()
    return UsageResult(len(fresh), len(items) - len(fresh))
