"""`v2gate meter sim` serves a simulated meter; `v2gate meter poll` reads one.

    v2gate meter sim --map abb-b23 --tcp 127.0.0.1:5020 --sign ECDSA-secp256r1-SHA256 \
        --power -7400
    v2gate meter poll --map abb-b23 --tcp 127.0.0.1:5020 --public-key HEX --count 5 --json

`sim` prints one JSON line first ({"port", "path", "public_key"}: the key as hex of its
DER, as meters print it) and then serves until interrupted. `poll` prints each event,
and exits 0 when export is allowed after `--count` readings, 1 when not. Every error is
one line on stderr and exit 2 (usage, an unreadable key, an address it cannot serve on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from host.argtypes import positive

from . import ocmf
from . import poller as mp
from .driver import MeterDriver, rtu_client, tcp_client
from .maps import MAPS, OCMF_BLOCK
from .sim import MeterServer, SimulatedMeter


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("meter", help="simulate or poll a Modbus meter")
    sides = parser.add_subparsers(dest="side", metavar="SIDE")
    sides.required = True
    for side, text in (("sim", "serve a simulated bidirectional meter"),
                       ("poll", "poll a meter and print what the station would see")):
        p = sides.add_parser(side, help=text)
        p.add_argument("--map", choices=sorted(MAPS), default="eastron-sdm630")
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--tcp", metavar="HOST:PORT", type=host_port,
                           help="Modbus TCP (port 0: any)")
        where.add_argument("--rtu", metavar="PATH", help="Modbus RTU on this serial port")
        p.add_argument("--baudrate", type=positive(int), default=19200)
        p.add_argument("--unit", type=_unit_id, default=1, help="meter unit id (default 1)")
        p.add_argument("--site-unit", type=_unit_id, default=2,
                       help="site controller unit id (export bit at 0x4002; default 2)")
    sim = sides.choices["sim"]
    sim.add_argument("--sign", metavar="SA", choices=sorted(ocmf.CURVES),
                     help="sign OCMF records with a fresh key of this algorithm")
    sim.add_argument("--power", type=float, default=0.0, help="W; negative exports")
    sim.add_argument("--import-wh", type=float, default=0.0)
    sim.add_argument("--export-wh", type=float, default=0.0)
    sim.set_defaults(func=lambda a: asyncio.run(_sim(a)))
    poll = sides.choices["poll"]
    poll.add_argument("--public-key", metavar="HEX|PEM-FILE",
                      help="meter's key: also read and verify its OCMF records")
    poll.add_argument("--count", type=positive(int), default=5,
                      help="readings to take (default 5)")
    poll.add_argument("--interval", type=positive(float), default=1.0)
    poll.add_argument("--rated-power", type=positive(float), default=22_000.0, metavar="W")
    poll.add_argument("--json", action="store_true", help="one JSON line per event")
    poll.set_defaults(func=lambda a: asyncio.run(_poll(a)))


def host_port(text: str) -> tuple[str, int]:
    """HOST:PORT (HOST defaults to 127.0.0.1), for argparse: a bad one is a usage error."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT with a port 0-65535")
    return host or "127.0.0.1", int(port)


def _unit_id(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 247:  # Modbus: 1-247, 0 is broadcast
        raise argparse.ArgumentTypeError(f"{text!r} is not a Modbus unit id (0-247)")
    return int(text)


class _PymodbusSays(logging.Handler):
    """While active, pymodbus' log lines are kept (``last``) instead of printed: its
    "Failed to start server ..." is the reason our one line gives."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""
        self._log = logging.getLogger("pymodbus.logging")

    def emit(self, record: logging.LogRecord) -> None:
        self.last = " ".join(record.getMessage().split())

    def __enter__(self) -> _PymodbusSays:
        self._propagate = self._log.propagate
        self._log.propagate = False
        self._log.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._log.removeHandler(self)
        self._log.propagate = self._propagate


def _fail(text: str) -> int:
    print(f"v2gate meter: {text}", file=sys.stderr, flush=True)
    return 2


async def _sim(args: argparse.Namespace) -> int:
    mmap = MAPS[args.map]
    if args.sign:
        mmap = mmap.signing(OCMF_BLOCK)
    meter = SimulatedMeter(mmap, sa=args.sign or "ECDSA-secp256r1-SHA256")
    meter.power_w = args.power
    meter.import_wh, meter.export_wh = args.import_wh, args.export_wh
    server = MeterServer(meter, unit=args.unit, site_unit=args.site_unit)
    info: dict[str, Any] = {"map": mmap.name}
    said = _PymodbusSays()
    try:
        with said:
            if args.tcp:
                info["port"] = await server.start_tcp(*args.tcp)
            else:
                await server.start_rtu(args.rtu, args.baudrate)
                info["path"] = args.rtu
    except RuntimeError:  # pymodbus: "Could not start listen, please check address."
        where = f"{args.tcp[0]}:{args.tcp[1]}" if args.tcp else args.rtu
        why = said.last.removeprefix("Failed to start server ") or "pymodbus could not listen"
        return _fail(f"cannot serve a meter on {where} ({why}): give a local address or "
                     "a serial port that exists")
    if args.sign:
        info["public_key"] = ocmf.public_key_der(meter.public_key).hex().upper()
    print(json.dumps(info), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
    return 0


def describe(ev: mp.Event) -> dict[str, Any]:
    out: dict[str, Any] = {"event": type(ev).__name__}
    for name, value in vars(ev).items():
        out[name] = value.text if isinstance(value, ocmf.OcmfRecord) else value
    return out


async def _poll(args: argparse.Namespace) -> int:
    mmap = MAPS[args.map]
    key = None
    if args.public_key:
        text = args.public_key
        if not all(ch in "0123456789abcdefABCDEF" for ch in text):
            with open(text, "rb") as f:
                text = f.read()
        try:
            key = ocmf.load_public_key(text)
        except ocmf.OcmfError as exc:
            return _fail(f"--public-key: {str(exc).split('. ')[0]} (give the meter's key as "
                         "hex of its DER or a PEM file)")
        mmap = mmap.signing(OCMF_BLOCK)
    poller = mp.MeterPoller(mmap, time.monotonic(), unit=args.unit, site_unit=args.site_unit,
                            interval=args.interval, rated_power_w=args.rated_power,
                            public_key=key, signed_every=1 if key else None)
    timeout = poller.timeout
    client = (tcp_client(args.tcp[0], args.tcp[1], timeout) if args.tcp
              else rtu_client(args.rtu, timeout, args.baudrate))
    readings = 0
    done = asyncio.Event()

    def on_event(ev: mp.Event) -> None:
        nonlocal readings
        if args.json:
            print(json.dumps(describe(ev)), flush=True)
        else:
            print(f"{type(ev).__name__}: {describe(ev)}", flush=True)
        if isinstance(ev, mp.ReadingTaken | mp.ReadFailed):
            readings += 1
            if readings >= args.count:
                done.set()

    task = asyncio.create_task(MeterDriver(poller, client, on_event).run())
    try:
        await done.wait()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    print(f"export {'allowed' if poller.export_allowed else 'not allowed'}: "
          f"{poller.export_reason}", file=sys.stderr)
    return 0 if poller.export_allowed else 1
