"""Work after ack() takes turns by org: one org's burst of `/trust status` cannot push another org's answer
to the back of the line (through signed HTTP), and the slots themselves (order, bound, cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tests.support.bots import RunningBot
from trustbot.handlers.common import work_key
from trustbot.runtime import WorkKeys, WorkSlots
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, DEV, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP, SEC_LEAD


async def until(condition: Callable[[], bool], steps: int = 2000) -> None:
    """Let the event loop run until `condition` holds (bounded in steps, not timed)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


async def test_one_orgs_burst_does_not_push_another_orgs_answer_to_the_back(bot: RunningBot) -> None:
    slots = bot.rt.work_slots
    async with contextlib.AsyncExitStack() as held:  # every slot busy, as under a burst
        for _ in range(slots.size):
            await held.enter_async_context(slots.slot("test:busy"))
        for i in range(50):  # acme's two admins: one org, one queue, whoever of its people asks
            assert (await bot.driver.command(ADMIN if i % 2 else ADMIN2, "status")).status == 200
        await until(lambda: slots.waiting() == 50)
        assert (await bot.driver.command(GLOBEX_ADMIN, "status")).status == 200
        await until(lambda: slots.waiting() == 51)
    await bot.settle()
    answered = [r["user"] for r in bot.slack.responses]
    assert len(answered) == 51
    # Globex's turn comes second (acme queued first), so its answer is among the first few, not after acme's 50.
    assert answered.index(GLOBEX_ADMIN) < 2 * slots.size


async def test_a_customers_people_share_their_orgs_turn_and_reps_operators_and_strangers_have_their_own(
    bot: RunningBot,
) -> None:
    keys = {user: await work_key(bot.rt, user) for user in (ADMIN, ADMIN2, SEC_LEAD, GLOBEX_ADMIN)}
    assert keys[ADMIN] == keys[ADMIN2] == keys[SEC_LEAD] != keys[GLOBEX_ADMIN]
    assert keys[ADMIN].startswith("org:") and keys[GLOBEX_ADMIN].startswith("org:")
    for user in (REP, BACKUP_REP, OPERATOR, DEV, OUTSIDER):
        assert await work_key(bot.rt, user) == f"user:{user}"


async def test_turns_go_round_robin_across_keys_in_order_within_one() -> None:
    slots, ran = WorkSlots(size=1), []

    async def job(key: str, n: int) -> None:
        async with slots.slot(key):
            ran.append(f"{key}{n}")

    async with slots.slot("busy"):
        tasks = [asyncio.create_task(job("a", n)) for n in range(4)]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(job("b", n)) for n in range(2)] + [asyncio.create_task(job("c", 0))]
        await until(lambda: slots.waiting() == 7)
    await asyncio.gather(*tasks)
    assert ran == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]


async def test_never_more_than_the_slots_at_once() -> None:
    slots, running, most = WorkSlots(size=3), 0, 0

    async def job(key: str) -> None:
        nonlocal running, most
        async with slots.slot(key):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(job(f"k{i % 5}") for i in range(40)))
    assert most == 3 and slots.waiting() == 0


async def test_a_cancelled_waiter_gives_up_its_turn_and_loses_no_slot() -> None:
    slots, ran = WorkSlots(size=1), []

    async def job(key: str) -> None:
        async with slots.slot(key):
            ran.append(key)

    async with slots.slot("busy"):
        gone = asyncio.create_task(job("gone"))
        kept = asyncio.create_task(job("kept"))
        await until(lambda: slots.waiting() == 2)
        gone.cancel()
        await asyncio.sleep(0)
        assert slots.waiting() == 1
    await kept
    # Granted at the moment it was cancelled: the slot is passed on, not lost.
    async with slots.slot("busy"):
        late = asyncio.create_task(job("late"))
        after = asyncio.create_task(job("after"))
        await until(lambda: slots.waiting() == 2)
    late.cancel()  # its turn was just handed to it; it has not run yet
    await asyncio.gather(late, after, return_exceptions=True)
    assert ran == ["kept", "after"]
    async with slots.slot("x"):  # the one slot is free again
        pass


async def test_the_directory_is_read_once_for_a_burst_and_a_failed_read_orders_nobody() -> None:
    keys, reads = WorkKeys(), 0

    async def load() -> dict[str, str]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)
        return {"U1": "org:1"}

    found = await asyncio.gather(*(keys.key_of(user, load) for user in ["U1", "U2"] * 10))
    assert reads == 1 and found == ["org:1", None] * 10

    async def broken() -> dict[str, str]:
        raise OSError("database down")

    assert await WorkKeys().key_of("U1", broken) is None
