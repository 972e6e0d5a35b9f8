"""The suite's own guarantee: a task a test leaves behind that ignores its cancellation is reported and
ended, so the event loop's close (which waits for every task without a limit) cannot stall the run."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.tasks import end_leftover_tasks


async def test_a_task_that_ignores_its_cancellation_is_reported_and_ended() -> None:
    cleaned_up = asyncio.Event()

    async def stubborn() -> None:
        try:
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue  # ignores every cancellation
        finally:
            cleaned_up.set()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    with pytest.warns(UserWarning, match="ignored its cancellation"):
        reports = await end_leftover_tasks(timeout=0.2)
    assert len(reports) == 1 and "stubborn" in reports[0]
    assert task.done() and cleaned_up.is_set()  # ended, and its finally block ran


async def test_tasks_that_take_their_cancellation_are_simply_ended() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    assert await end_leftover_tasks(timeout=1) == []
    assert task.cancelled()
