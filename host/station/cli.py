"""`v2gate station` (also `python -m host.station`): serve one connector on a serial
port, one JSON line per event.

This is the host process `v2gate simulate` starts; `v2gate run` will replace it. A port
that cannot be opened or that nobody answers on ends in one JSON line saying what to
check, and exit code 2 (the port: missing, busy, not a serial port) or 1 (no firmware
answered); Ctrl-C in 130 (the `v2gate` conventions, host/cli.py).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import sys
import time
from typing import Any

import serial

from firmware.link import messages as m
from host.link.driver import LinkDriver
from host.station.policy import Settings, Station
from host.station.runner import NoAnswer, serve

OPEN_TIMEOUT_S = 5.0
EXIT_PORT = 2  # the environment cannot do it (host/cli.py's EXIT_USAGE)
# what to do about the firmware's reasons for refusing our HostHello
REFUSALS = {
    "no-entropy": "the board has no random source for its session numbers: check its build",
    "version": f"no common protocol version (this host speaks {m.PROTOCOL_VERSION}): "
               "update the firmware or the host",
}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--port", required=True, help="serial port of the firmware, e.g. /dev/ttyAMA0")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--sessions", type=int, default=None, help="exit after N sessions")
    ap.add_argument("--report-only", action="store_true",
                    help="connect, report the firmware's state and why, and exit")
    ap.add_argument("--clear-faults", action="store_true",
                    help="operator: clear latched faults whose cause is gone (weld, RCD, E-stop...)")
    ap.add_argument("--current", type=float, default=16.0, help="offered current (A)")
    ap.add_argument("--export", action="store_true", help="lease for export (V2G discharge)")
    ap.add_argument("--dc-voltage", type=float, default=0.0, metavar="V",
                    help="DC session (a board with DC hardware): the EV's voltage for the "
                         "precharge; offers 5 %% PWM, runs CableCheck, closes with precharge")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="SetConfig at start, e.g. grid_category=3 (see docs/link.md)")
    ap.add_argument("--open-timeout", type=float, default=OPEN_TIMEOUT_S,
                    help="seconds to wait for the firmware's first answer (default %(default)s)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("station", help="serve one connector (basic AC charging) on a serial port",
                       description=__doc__)
    add_arguments(p)
    p.set_defaults(func=lambda args: run(args, p))


def settings_from(args: argparse.Namespace, ap: argparse.ArgumentParser) -> Settings:
    names = {name: key for key, (name, _, _) in m.CONFIG_KEYS.items()}
    config: dict[int, int] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in names or not value.lstrip("-").isdigit():
            ap.error(f"--set {item}: expected KEY=INTEGER with KEY one of {', '.join(names)}")
        config[names[name]] = int(value)
    return Settings(max_current_da=round(args.current * 10), export=args.export, config=config,
                    report_only=args.report_only, clear_faults=args.clear_faults,
                    sessions=args.sessions, dc_target_dv=_dc_target(args, ap))


def _dc_target(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    dv = round(args.dc_voltage * 10)
    if dv and not 100 <= dv <= 15000:
        ap.error(f"--dc-voltage {args.dc_voltage:g}: expected 10..1500 V (the EV's battery voltage)")
    return dv


def run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    station = Station(settings_from(args, ap))
    t0 = time.monotonic()

    def emit(rec: dict[str, Any]) -> None:
        rec = {"t": round(time.monotonic() - t0, 3), **rec}
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        driver = LinkDriver(args.port, args.baud)
        try:
            await serve(station, driver, emit, args.open_timeout)
        finally:
            driver.close()

    try:
        asyncio.run(main())
    except serial.SerialException as e:
        emit({"event": "error", "error": f"cannot open {args.port}: {_reason(e)}; check the "
              "port name, that the board is plugged in and that no other program holds it"})
        return EXIT_PORT
    except NoAnswer as e:
        if e.refused is not None:
            emit({"event": "error", "error": f"the firmware on {args.port} refuses the link: "
                  f"{e.refused} ({REFUSALS.get(e.refused, 'see docs/link.md')})"})
            return 1
        emit({"event": "error", "error": f"no answer from {args.port} within {args.open_timeout:g} s: "
              f"check the baud rate (--baud, now {args.baud}), that the firmware is running, "
              "and the wiring (TX/RX crossed, common ground)"})
        return 1
    return 0


def _reason(e: serial.SerialException) -> str:
    """pyserial's text repeats the port twice; the OS error's own words say it best."""
    if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):  # its lock (exclusive open) is taken
        return "busy, another program holds it"
    if isinstance(e.errno, int):
        return os.strerror(e.errno).lower()
    return str(e)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host.station", description=__doc__)
    add_arguments(ap)
    try:
        return run(ap.parse_args(argv), ap)
    except KeyboardInterrupt:  # `v2gate station` leaves this to host/cli.py
        sys.stderr.write("interrupted\n")
        return 130
