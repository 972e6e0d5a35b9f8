"""Shared handler plumbing: run one service in one transaction, answer modals inline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from bot.services.errors import DomainError, InvalidInput

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


async def in_transaction(rt: Runtime, call: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `call(session)` as one unit of work."""
    async with rt.db.transaction() as session:
        return await call(session)


async def submit_view(rt: Runtime, ack: Any, block: str, call: Callable[[AsyncSession], Awaitable[T]]) -> T | None:
    """Run a modal's service, then ack; refusals show inline on `block` so the person can see why."""
    try:
        result = await in_transaction(rt, call)
    except InvalidInput as error:
        await ack(response_action="errors", errors=error.errors or {block: error.message})
        return None
    except DomainError as error:
        await ack(response_action="errors", errors={block: error.message[:300]})
        return None
    await ack()
    return result


def parse_payload(model: type[M], raw: str | None) -> M:
    """Read a button value or `private_metadata`; tampered or stale values are a refusal, not a crash."""
    try:
        return model.model_validate_json(raw or "")
    except ValidationError:
        raise InvalidInput("That button or form is out of date. Please start again.") from None


def action_value(body: dict[str, Any]) -> str:
    """The value of the clicked button."""
    return (body.get("actions") or [{}])[0].get("value") or ""


def user_of(body: dict[str, Any]) -> str:
    """The id of the person who clicked or submitted."""
    return (body.get("user") or {}).get("id") or body.get("user_id") or ""
