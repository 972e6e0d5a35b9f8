"""Ending the tasks a test left behind, so that one task ignoring its cancellation cannot stall the run.

Closing an event loop cancels every task still registered with it and waits for all of them without
a limit. A task that catches its cancellation and goes on waiting (seen rarely, inside a database
driver cancelled mid-query) would hold that wait, and the whole run, forever. Such a task is
reported with its stack, and its coroutine is closed: `GeneratorExit` is raised where it waits, its
`finally` blocks run, and the next step the task takes ends it, so the loop has nothing left to
wait for.
"""

from __future__ import annotations

import asyncio
import traceback
import warnings


def _where(task: asyncio.Task[object]) -> str:
    frames = task.get_stack()
    return "".join(traceback.format_stack(frames[-1])) if frames else ""


async def end_leftover_tasks(timeout: float = 5.0) -> list[str]:
    """Cancel every task but the current one and wait up to `timeout` seconds; close the coroutine of
    any that ignored its cancellation (with a warning naming it and where it waited). The stuck
    tasks' descriptions, for the caller to check."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    if not left:
        return []
    _, stuck = await asyncio.wait(left, timeout=timeout)
    reports: list[str] = []
    for task in stuck:
        report = f"a task ignored its cancellation and was closed: {task!r}\n{_where(task)}"
        reports.append(report)
        warnings.warn(report, stacklevel=1)
        try:
            task.get_coro().close()
        except RuntimeError as error:  # it caught GeneratorExit and waited again
            warnings.warn(f"closing {task!r} failed: {error}", stacklevel=1)
        task.cancel()  # wakes it: its next step, on a closed coroutine, ends the task
    if stuck:
        await asyncio.wait(stuck, timeout=1)
    for task in stuck:
        if task.done() and not task.cancelled():
            task.exception()  # its end (a closed coroutine cannot step) is reported above, not again
    return reports
