"""Firmware entry point: board -> HAL -> controller and link -> asyncio loop.

On a board, the deployed /main.py is `import firmware.main; firmware.main.run()` and
the board module is deployed as /board.py. Under `v2gate simulate` the process runs
`python -m firmware.main` or `micropython -m firmware.main` with V2GATE_BOARD=sim and
the scenario's plant parameters in V2GATE_SIM (JSON).
"""

import asyncio
import json
import os
import sys

import boards
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.compat import sleep_ms, ticks_add, ticks_diff, ticks_ms

LINK_POLL_MS = 2
REBOOT_DRAIN_MS = 50  # a few frames at 115200 Bd take ~3 ms; the bound is for a stuck UART


def make_hal(board):
    if board["port"] == "unix":
        from firmware.hal.sim import SimHal, StdioUart

        params = _getenv("V2GATE_SIM")
        return SimHal(board, json.loads(params) if params else None, StdioUart())
    if board["port"] == "rp2":
        from firmware.hal.rp2 import Rp2Hal

        return Rp2Hal(board)
    if board["port"] == "esp32":
        from firmware.hal.esp32 import Esp32Hal

        return Esp32Hal(board)
    if board["port"] == "stm32":
        from firmware.hal.stm32 import Stm32Hal

        return Stm32Hal(board)
    raise NotImplementedError(
        "no HAL for port %r (this firmware has unix/sim, rp2, esp32, stm32)" % board["port"]
    )


def _getenv(name):
    """Environment variable, or None on ports without an environment (rp2, stm32)."""
    getenv = getattr(os, "getenv", None)
    return getenv(name) if getenv else None


def board_name():
    name = _getenv("V2GATE_BOARD")
    if name:
        return name
    try:
        import board  # type: ignore[import-not-found]  # deployed beside main.py on a board

        return board.BOARD["name"]
    except ImportError:
        return "sim"


def next_deadline(deadline, now, period_ms):
    """The tick after the one due at `deadline`: the first point of its grid (every
    `period_ms` from the first tick) not yet past at `now`. The grid never moves, so
    the period does not stretch by the tick's own time; a tick that overran skips the
    periods it missed instead of running them back to back (a burst of catch-up ticks
    would only act again on the same late inputs)."""
    deadline = ticks_add(deadline, period_ms)
    late = ticks_diff(now, deadline)
    if late > 0:
        deadline = ticks_add(deadline, (late + period_ms - 1) // period_ms * period_ms)
    return deadline


async def control_task(ctrl, period_ms):
    from firmware.app import wear

    hal = ctrl.hal
    deadline = ticks_ms()
    while True:
        ctrl.tick(ticks_ms())
        hal.feed_wdt()  # only after a completed tick: one that raises ends the task
        if ctrl.wear.due:  # the tick only counts; the flash write allocates, so here
            wear.save(ctrl.wear, hal)
        now = ticks_ms()
        deadline = next_deadline(deadline, now, period_ms)
        await sleep_ms(ticks_diff(deadline, now))


def save_on_shutdown(ctrl):
    """An orderly shutdown keeps what the wear counters have not saved yet."""
    from firmware.app import wear

    if ctrl.wear.unsaved:
        wear.save(ctrl.wear, ctrl.hal)


async def link_task(server, uart):
    while True:
        now = ticks_ms()
        data = uart.read()
        if data:
            server.receive(data, now)
        server.poll(now)
        for chunk in server.data_to_send():
            uart.write(chunk)
        if server.reboot_requested:
            # the Ack of the Reset(reboot) is still in the TX buffer: let it go out,
            # or the host never hears it (it takes the next FirmwareHello instead)
            uart.drain(REBOOT_DRAIN_MS)
            save_on_shutdown(server.ctrl)
            server.ctrl.hal.reboot()
        await sleep_ms(LINK_POLL_MS)


EMERGENCY_EXCEPTION_BUF = 100  # bytes: what MicroPython's docs suggest for ISR tracebacks


def reserve_isr_traceback(mp=None):
    """An exception in a hard IRQ handler cannot allocate its traceback: without this
    buffer MicroPython reports only that one happened, not where. CPython has no
    `micropython`, the unix port no such function (it has no hard IRQs): nothing."""
    if mp is None:
        try:
            import micropython as mp
        except ImportError:
            return False
    alloc = getattr(mp, "alloc_emergency_exception_buf", None)
    if alloc is None:
        return False
    alloc(EMERGENCY_EXCEPTION_BUF)
    return True


async def amain():
    reserve_isr_traceback()  # before the HAL enables any interrupt
    board = boards.load(board_name())
    hal = make_hal(board)
    now = ticks_ms()
    ctrl = Controller(hal, board, now)
    name = board["name"].encode()
    server = LinkServer(ctrl, name, hal.reset_reason(), now)
    server.on_applied = getattr(hal, "log_applied", None)  # the sim board's command log
    if server.no_entropy:  # the host sees Nack(no-entropy) to its HostHello
        sys.stderr.write("firmware: boot fault: no random source (random, os.urandom) for the"
                         " link's epochs; the link is refused\n")
    t = asyncio.create_task(control_task(ctrl, board["control_period_ms"]))
    await link_task(server, hal.uart)
    t.cancel()


def run():
    try:
        asyncio.run(amain())
    except OSError as e:  # the link went away (pty closed): nothing left to serve
        sys.stderr.write("firmware: link closed: %s\n" % e)


if __name__ == "__main__":
    run()
