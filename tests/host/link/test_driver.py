"""`system` tier: the asyncio driver over a real pty to a real firmware process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from firmware.link import messages as m
from host.bench import processes
from host.bench.processes import Pty
from host.link import events as ev
from host.link.driver import CommandError, LinkDriver

pytestmark = pytest.mark.system


def runtime() -> str:
    return "micropython" if processes.micropython_binary() else "cpython"


async def firmware_on(link: Path) -> tuple[Pty, asyncio.subprocess.Process]:
    pty = Pty.open()
    fw = await processes.start_firmware(pty, {"plug_ms": 10**9}, runtime())
    if link.is_symlink():
        link.unlink()
    link.symlink_to(pty.path)  # a stable device name, as udev gives /dev/ttyV2G
    return pty, fw


def test_commands_garbage_and_reconnect(tmp_path: Path) -> None:
    async def main() -> None:
        link = tmp_path / "ttyV2G"
        pty, fw = await firmware_on(link)
        driver = LinkDriver(str(link), reopen_s=0.1)
        try:
            up = await driver.open()
            assert up.board == "sim"
            acked = await driver.command(m.SetPilot(m.PILOT_PWM, 2666))
            assert isinstance(acked, ev.CommandAcked)
            assert driver.client.status is not None and driver.client.status.duty == 2666
            with pytest.raises(CommandError, match="rejected: out-of-range"):
                await driver.command(m.SetConfig(m.CFG_LINK_TIMEOUT, 50))
            # garbage on the line: the firmware drops it and keeps serving
            assert driver._serial is not None
            driver._serial.write(os.urandom(300) + b"\x00")
            await driver.command(m.SetPilot(m.PILOT_PWM, 1666))
            assert driver.client.status.duty == 1666
            # the board goes away (USB unplugged) and comes back
            await processes.stop(fw)
            pty.close()
            link.unlink()
            down = await asyncio.wait_for(_next(driver, ev.LinkDown), 5)
            assert "lost" in down.reason or "closed" in down.reason
            pty, fw = await firmware_on(link)
            await asyncio.wait_for(driver.wait_up(), 10)
            await driver.command(m.SetPilot(m.PILOT_PWM, 2666))
        finally:
            driver.close()
            await processes.stop(fw)
            pty.close()

    asyncio.run(main())


async def _next(driver: LinkDriver, kind: type) -> ev.Event:
    while True:
        e = await driver.events.get()
        if isinstance(e, kind):
            return e


def test_a_command_sent_while_the_link_is_down_gets_an_outcome() -> None:
    # nobody answers on the port: send() must not drop the command (the caller would
    # wait for its outcome forever); it waits in the client and runs out of retries
    async def main() -> ev.Event:
        pty = Pty.open()
        driver = LinkDriver(pty.path)
        try:
            driver.start()
            command = m.SetPilot(m.PILOT_PWM, 2666)
            seq = driver.send(command)
            assert seq is not None
            while True:
                event = await asyncio.wait_for(driver.events.get(), 10)
                if isinstance(event, ev.CommandTimedOut | ev.CommandRejected | ev.CommandAcked):
                    assert event.command is command and event.seq == seq
                    return event
        finally:
            driver.close()
            pty.close()

    assert isinstance(asyncio.run(main()), ev.CommandTimedOut)
