"""Shared handler plumbing: run one service in one transaction, answer modals inline, reply to refusals."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.text import Rendered
from trustbot.runtime import Runtime
from trustbot.services.context import Person, ServiceContext
from trustbot.services.directory.work_keys import own_key, work_keys
from trustbot.services.errors import DomainError, InvalidInput

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Service = Callable[[AsyncSession, ServiceContext], Awaitable[T]]
# What Bolt calls: it passes a listener the arguments its signature names, here these five.
BoltListener = Callable[[AsyncAck, dict[str, Any], AsyncRespond, AsyncWebClient, AsyncBoltContext], Awaitable[None]]


async def run_service(rt: Runtime, person: Person, call: Service[T], *, after_ack: bool = True) -> T:
    """Run `call(session, ctx)` for the acting person as one unit of work.

    Work after `ack()` takes one of a few slots (`Runtime.work_slots`): under a burst of clicks
    the event loop then holds only a handful of busy services at a time, so a new request from
    Slack is acknowledged at once instead of queueing behind all of them. Waiting work takes turns
    by the acting person's org (`work_key`), so one org's burst cannot push another org's answer
    back by seconds. Work a reply waits for (modal validation, before `ack`) does not queue for a slot.
    """
    if not after_ack:
        async with rt.db.transaction() as session:
            return await call(session, await person.context(session))
    async with rt.work_slots.slot(await work_key(rt, person.user_id)), rt.db.transaction() as session:
        return await call(session, await person.context(session))


async def work_key(rt: Runtime, user_id: str) -> str:
    """Whose turn the person's work takes: their org's, or their own (reps, operators, unknown people)."""

    async def load() -> dict[str, str]:
        async with rt.db.sessions() as session:
            return await work_keys(session)

    return await rt.work_keys.key_of(user_id, load) or own_key(user_id)


# A modal submission must be answered within Slack's 3 s; work that would take longer is abandoned
# (rolled back) and the person asked to submit again, rather than shown a failure by Slack.
SUBMIT_BUDGET_SECONDS = 2.5
# Of that budget, what `users.info` lookups of the people a modal names may take (before its service runs).
LOOKUP_SECONDS = 1.0


async def submit_view(
    rt: Runtime, person: Person, ack: AsyncAck, block: str, call: Service[T], *, budget: float = SUBMIT_BUDGET_SECONDS
) -> T | None:
    """Run a modal's service, then ack; refusals and failures show inline on `block` so the person sees why."""
    try:
        result = await asyncio.wait_for(run_service(rt, person, call, after_ack=False), max(budget, 0.5))
    except InvalidInput as error:
        await ack(response_action="errors", errors=error.errors or {block: error.message})
        return None
    except DomainError as error:
        await ack(response_action="errors", errors={block: error.message[:300]})
        return None
    except TimeoutError:
        log.warning("a modal submission took longer than %ss and was rolled back", SUBMIT_BUDGET_SECONDS)
        await ack(response_action="errors", errors={block: "Trustbot is busy: nothing was saved. Please submit again."})
        return None
    except Exception:
        log.exception("a modal submission failed")
        await ack(response_action="errors", errors={block: "Something went wrong on our side: nothing was saved."})
        return None
    await ack()
    return result


async def reply(respond: AsyncRespond, message: Rendered | str) -> None:
    """An ephemeral answer to the person who asked, leaving the message they clicked as it is."""
    body = {"text": message} if isinstance(message, str) else message.to_dict()
    await respond(**body, response_type="ephemeral", replace_original=False)


def parse_payload(model: type[M], raw: str | None) -> M:
    """Read a button value or `private_metadata`; tampered or stale values are a refusal, not a crash."""
    try:
        return model.model_validate_json(raw or "")
    except ValidationError:
        raise InvalidInput("That button or form is out of date. Please start again.") from None


def action_value(body: dict[str, Any]) -> str:
    """The value of the clicked button."""
    value = (body.get("actions") or [{}])[0].get("value")
    return value if isinstance(value, str) else ""


def user_of(body: dict[str, Any]) -> str:
    """The id of the person who clicked or submitted."""
    user = body.get("user")
    found = user.get("id") if isinstance(user, dict) else None
    return str(found or body.get("user_id") or "")


async def reply_refusal(error: Exception, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
    """The one place a refusal (or an unexpected failure) becomes an ephemeral reply."""
    if isinstance(error, DomainError):
        text = f":no_entry: {error.message}"
    else:
        log.error("unhandled error in a Slack listener", exc_info=error)
        text = ":warning: Something went wrong on our side and nothing was changed. Please try again."
    try:
        if respond.response_url:
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        user = user_of(body)
        if user:  # modals and App Home carry no response_url: tell the person directly
            await client.chat_postMessage(channel=user, text=text)
    except Exception:  # the refusal itself failed to send; the log is all we have left
        log.exception("could not deliver a refusal")


def guarded(rt: Runtime) -> Callable[[Callable[..., Awaitable[None]]], BoltListener]:
    """Wrap a Bolt listener so refusals are replied to instead of raised, and its work is tracked.

    Raising after `ack()` is not safe in Bolt: its runner resets an ack it has not yet seen
    when the listener fails within its 10 ms polling interval, and Slack then shows the click or
    command as failed. While the listener runs, its task is in `rt.post_ack`, so tests and a
    graceful shutdown can wait for work done after the ack. The wrapper passes the listener only
    the arguments it declares: Bolt's, plus `person` (the acting `Person`) and `view`/`action`.
    """

    def decorate(listener: Callable[..., Awaitable[None]]) -> BoltListener:
        wanted = set(inspect.signature(listener).parameters)

        @functools.wraps(listener, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
        async def wrapper(
            ack: AsyncAck,
            body: dict[str, Any],
            respond: AsyncRespond,
            client: AsyncWebClient,
            context: AsyncBoltContext,
        ) -> None:
            available: dict[str, object] = {
                "ack": ack,
                "body": body,
                "respond": respond,
                "client": client,
                "context": context,
                "person": context.get("person"),
                "view": body.get("view"),
                "command": body,
                "action": (body.get("actions") or [None])[0],
            }
            with rt.post_ack.tracking():
                try:
                    await listener(**{name: available[name] for name in wanted})
                except Exception as error:  # every failure gets a reply, see reply_refusal
                    if ack.response is None:  # not acked yet (Bolt's own record): Slack must hear back in 3 s
                        await ack()  # a modal then closes
                    await reply_refusal(error, body, respond, client)

        del wrapper.__wrapped__  # Bolt must see the wrapper's own parameters
        return wrapper

    return decorate
