"""Small asyncio helpers shared by the drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], seconds: float | None) -> T:
    """`await aw`, raising TimeoutError after `seconds` (None: no limit).

    Receive loops use this instead of `asyncio.wait_for`: on Python 3.11, wait_for loses a
    cancellation that arrives just as the awaited thing completes (CPython gh-86296), so a
    Ctrl-C or SIGTERM landing on a busy receive loop was swallowed and the command ran on.
    `asyncio.timeout` tells its own cancellation from anyone else's.
    """
    async with asyncio.timeout(seconds):
        return await aw
