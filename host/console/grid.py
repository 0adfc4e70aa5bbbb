"""`v2gate grid`: the firmware's view of the grid, and phase alignment before export.

Prints the grid frequency, phase error, voltage and in-service state from the
firmware's GridStatus. With --phase-align it first sets the alignment threshold
(radians; the link's grid_phase_mrad) and waits until the firmware reports the grid
aligned within it, or says in one line why not (no grid, out of band, not yet
synchronised, the error stays above the threshold), exit 1. The interconnection
manual's `v2g-synch --phase-align --threshold=0.05` is
`v2gate grid --port PORT --phase-align --threshold 0.05`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from typing import Any

import serial

from firmware.app import gridfunc, gridsync
from firmware.link import messages as m
from host.console import fields, session
from host.console.cli import check_baud, pick_runtime, sim_params
from host.console.state import NOT_IN_SERVICE
from host.link import events as ev
from host.link.driver import CommandError, LinkDriver
from host.station.cli import _reason

EXIT_USAGE = 2
_, PHASE_MIN_MRAD, PHASE_MAX_MRAD = m.CONFIG_KEYS[m.CFG_PHASE_MRAD]
# a firmware just booted measures the grid after a few cycles and enters service after
# its enter-service delay (the sim board's: 1 s): the plain report waits this long for it
SETTLE_S = 2.0


class NotAligned(Exception):
    """The one line that says why the grid is not (yet) aligned, or cannot be read."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("grid", help="the firmware's grid measurement; --phase-align before export",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of the firmware's link UART")
    where.add_argument("--sim", action="store_true", help="start the sim board's firmware and ask it")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--phase-align", action="store_true",
                   help="set the threshold and wait until the firmware reports the grid aligned")
    p.add_argument("--threshold", type=float, default=0.05, metavar="RAD",
                   help="phase-alignment threshold in radians (default %(default)s; "
                        f"{PHASE_MIN_MRAD / 1000:g}..{PHASE_MAX_MRAD / 1000:g})")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the answer or the alignment (default %(default)s)")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="--sim: what runs the firmware")
    p.add_argument("--sim-set", action="append", default=[], metavar="KEY=JSON",
                   help="--sim: a sim parameter, e.g. grid='{\"f0\": 52}'")
    p.set_defaults(func=run)


def _fail(text: str, code: int = EXIT_USAGE) -> int:
    print(f"v2gate grid: {text}", file=sys.stderr)
    return code


def threshold_mrad(rad: float) -> int:
    mrad = round(rad * 1000) if math.isfinite(rad) else -1
    if not PHASE_MIN_MRAD <= mrad <= PHASE_MAX_MRAD:
        raise ValueError(f"--threshold {rad:g} rad is out of range: the firmware takes "
                         f"{PHASE_MIN_MRAD / 1000:g}..{PHASE_MAX_MRAD / 1000:g} rad")
    return mrad


def why_not(g: m.GridStatus, mrad: int) -> str | None:
    """None when `g` says the grid is aligned within `mrad`, else why not."""
    if g.refused & gridfunc.NO_SENSING:
        return "this board has no grid sensing"
    if g.refused & gridfunc.LOST:
        return "no grid: the firmware measures no grid voltage"
    if g.trip or g.refused & gridfunc.TRIPPED:
        trip = gridfunc.TRIP_NAMES[g.trip] if 0 < g.trip < len(gridfunc.TRIP_NAMES) else "a trip"
        return (f"grid out of band: {g.freq_mhz / 1000:.3f} Hz, {g.v_rms_mv / 1000:.1f} V; the firmware "
                f"has not let it (re-)enter service (last trip: {trip})")
    if g.refused & gridfunc.UNSYNCED or not g.flags & gridsync.PHASE_OK:
        return "not synchronised to the grid yet (no valid frequency and phase measurement)"
    # the firmware's own verdict (its PHASE refusal, while the contactor is open), and
    # ours from the error it reports (while closed it stops judging)
    if g.refused & gridfunc.PHASE or abs(g.phase_err_mrad) > mrad:
        verdict = " (the firmware refuses to close for export: grid-phase)" if g.refused & gridfunc.PHASE else ""
        return f"phase error {g.phase_err_mrad} mrad stays above the threshold {mrad} mrad{verdict}"
    return None


def report(g: m.GridStatus) -> str:
    service = "in service" if not g.refused & NOT_IN_SERVICE else "NOT in service"
    trip = f", trip {gridfunc.TRIP_NAMES[g.trip]}" if 0 < g.trip < len(gridfunc.TRIP_NAMES) else ""
    return (f"frequency {g.freq_mhz / 1000:.3f} Hz  ROCOF {g.rocof_mhz_s / 1000:.3f} Hz/s\n"
            f"phase error {g.phase_err_mrad} mrad ({g.phase_err_mrad / 1000:.3f} rad)\n"
            f"voltage {g.v_rms_mv / 1000:.1f} V\n"
            f"{service} (refusals: {fields.grid_refusals(g.refused)}{trip})")


def measured(g: m.GridStatus) -> bool:
    """The firmware has a frequency and phase to report (not the zeros before its
    first cycles, nor a lost grid's)."""
    return bool(g.flags & gridsync.PHASE_OK) and not g.refused & (gridfunc.UNSYNCED | gridfunc.LOST)


async def _next_grid(driver: LinkDriver, deadline: float) -> m.GridStatus:
    loop = asyncio.get_running_loop()
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError
        e = await asyncio.wait_for(driver.events.get(), left)
        if isinstance(e, ev.FirmwareReported) and isinstance(e.message, m.GridStatus):
            return e.message


async def ask(port: str, baud: int, align_mrad: int | None, timeout: float) -> str:
    """What to print; NotAligned with the reason otherwise."""
    loop = asyncio.get_running_loop()
    driver = LinkDriver(port, baud)
    try:
        try:
            await driver.open(timeout)
        except TimeoutError:
            raise NotAligned(f"no answer from {port} within {timeout:g} s: check the baud rate "
                             f"(--baud, now {baud}), that the firmware runs, and the wiring") from None
        deadline = loop.time() + timeout
        if align_mrad is not None:
            try:
                await driver.command(m.SetConfig(m.CFG_PHASE_MRAD, align_mrad))
            except CommandError as e:
                bad_state = isinstance(e.event, ev.CommandRejected) and e.event.reason == m.NACK_BAD_STATE
                raise NotAligned("this board has no grid sensing" if bad_state
                                 else f"the firmware did not take the threshold: {e}") from None
        g = None
        try:
            g = await _next_grid(driver, deadline)
            if align_mrad is None:
                # the first ones after a boot come before a measurement: wait a little
                settle = min(deadline, loop.time() + SETTLE_S)
                with contextlib.suppress(TimeoutError):
                    while not measured(g) or g.refused & NOT_IN_SERVICE:
                        g = await _next_grid(driver, settle)
                return report(g)
            while why_not(g, align_mrad) is not None:
                g = await _next_grid(driver, deadline)
        except TimeoutError:
            if g is None:
                raise NotAligned(f"no GridStatus from the firmware within {timeout:g} s: "
                                 "the board has no grid sensing") from None
            raise NotAligned(f"not aligned within {timeout:g} s: {why_not(g, align_mrad or 0)}") from None
        return (f"aligned: phase error {g.phase_err_mrad} mrad within the threshold "
                f"{align_mrad} mrad\n{report(g)}")
    finally:
        driver.close()


def run(args: argparse.Namespace) -> int:
    try:
        mrad = threshold_mrad(args.threshold) if args.phase_align else None
        if not args.sim and not args.port:
            raise ValueError("say where the firmware is: --port PORT (e.g. /dev/ttyACM0), or --sim")
        if args.sim_set and not args.sim:
            raise ValueError("--sim-set needs --sim")
        check_baud(args.baud)
        sim = sim_params(args.sim_set) if args.sim else None
        runtime = pick_runtime(args.runtime) if args.sim else "none"
    except ValueError as e:
        return _fail(str(e))

    async def main() -> str:
        async with contextlib.AsyncExitStack() as stack:
            port = args.port
            if sim is not None:
                port = (await stack.enter_async_context(session.sim_board(sim, runtime))).port
            return await ask(port, args.baud, mrad, args.timeout)

    try:
        print(asyncio.run(main()))
    except NotAligned as e:
        return _fail(str(e), 1)
    except serial.SerialException as e:
        return _fail(f"cannot open {args.port}: {_reason(e)}; check the port name, that the board "
                     "is plugged in and that no other program holds it")
    return 0
