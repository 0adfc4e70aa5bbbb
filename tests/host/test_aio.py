"""A cancellation that lands as a receive completes must still end the receive loop."""

from __future__ import annotations

import asyncio

import pytest

from host.aio import within
from host.slac import driver


class _EchoLink:
    """What `lo` shows a raw socket: each frame we send comes straight back as outgoing."""

    mac = b"\x02\x00\x00\x00\x00\x01"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()

    def send(self, data: bytes) -> None:
        self.queue.put_nowait((data, True))

    async def recv(self) -> tuple[bytes, bool]:
        return await self.queue.get()


async def _cancel_as_it_completes(wrap) -> bool:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(wrap(fut, 10))
    await asyncio.sleep(0)  # the task now waits on fut
    fut.set_result(1)
    task.cancel()  # in the same loop pass: the completion and the cancellation race
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


@pytest.mark.unit
def test_within_never_loses_a_cancellation() -> None:
    assert asyncio.run(_cancel_as_it_completes(within))


@pytest.mark.unit
def test_a_modem_probe_on_a_busy_link_ends_on_cancel() -> None:
    """`v2gate slac -i lo` got SIGINT during its VS_SW_VER probe and ran on for 6 s: the
    probe's receive loop swallowed the cancellation (asyncio.wait_for on Python 3.11)."""

    async def scenario() -> int:
        link = _EchoLink()
        ended = 0
        for turn in range(200):
            task = asyncio.create_task(driver.modem_request(
                link, driver.VsSwVerReq(), driver.VsSwVerCnf, timeout=5.0, tries=1))  # type: ignore[arg-type]
            for _ in range(turn % 7 + 1):
                await asyncio.sleep(0)
                link.send(b"\x00" * 60)  # keep the receive completing, as lo does
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), 1.0)
            except asyncio.CancelledError:
                ended += 1
            except TimeoutError:
                task.cancel()
        return ended

    assert asyncio.run(scenario()) == 200
