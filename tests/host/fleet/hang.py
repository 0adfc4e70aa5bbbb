"""Bounds for the fleet scenarios, so a hang fails with where it hung instead of running
into pytest-timeout's 300 s with nothing said: the stack of every task of the loop,
taken before anything is cancelled (a cancel unwinds the stacks that tell)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def task_stacks() -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=out)
    return out.getvalue()


async def within(coro: Coroutine[Any, Any, T], limit: float, what: str) -> T:
    """`coro`'s result, or an AssertionError with every task's stack after `limit` s."""
    task = asyncio.ensure_future(coro)
    await asyncio.wait({task}, timeout=limit)
    if task.done():
        return task.result()
    stacks = task_stacks()
    task.cancel()
    await asyncio.wait({task}, timeout=10)
    raise AssertionError(f"{what}: not done in {limit:.0f} s"
                         f"{'' if task.done() else ' (nor 10 s after its cancel)'}; its tasks:\n{stacks}")  # fmt: skip


async def stop(task: asyncio.Task[Any], what: str, limit: float = 30.0) -> None:
    """Cancel `task` and wait for it to end, at most `limit` s (then say where it is)."""
    task.cancel()
    await asyncio.wait({task}, timeout=limit)
    if not task.done():
        raise AssertionError(f"{what} did not stop within {limit:.0f} s of its cancel; "
                             f"its tasks:\n{task_stacks()}")  # fmt: skip
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
