"""`v2gate meter sim` serves a simulated meter; `v2gate meter poll` reads one.

    v2gate meter sim --map abb-b23 --tcp 127.0.0.1:5020 --sign ECDSA-secp256r1-SHA256 \
        --power -7400
    v2gate meter poll --map abb-b23 --tcp 127.0.0.1:5020 --public-key HEX --count 5 --json

`sim` prints one JSON line first ({"port", "path", "public_key"}: the key as hex of its
DER, as meters print it) and then serves until interrupted. `poll` prints each event,
and exits 0 when export is allowed after `--count` readings, 1 when not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

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
        where.add_argument("--tcp", metavar="HOST:PORT", help="Modbus TCP (port 0: any)")
        where.add_argument("--rtu", metavar="PATH", help="Modbus RTU on this serial port")
        p.add_argument("--baudrate", type=int, default=19200)
        p.add_argument("--unit", type=int, default=1, help="meter unit id (default 1)")
        p.add_argument("--site-unit", type=int, default=2,
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
    poll.add_argument("--count", type=int, default=5, help="readings to take (default 5)")
    poll.add_argument("--interval", type=float, default=1.0)
    poll.add_argument("--rated-power", type=float, default=22_000.0, metavar="W")
    poll.add_argument("--json", action="store_true", help="one JSON line per event")
    poll.set_defaults(func=lambda a: asyncio.run(_poll(a)))


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _sim(args: argparse.Namespace) -> int:
    mmap = MAPS[args.map]
    if args.sign:
        mmap = mmap.signing(OCMF_BLOCK)
    meter = SimulatedMeter(mmap, sa=args.sign or "ECDSA-secp256r1-SHA256")
    meter.power_w = args.power
    meter.import_wh, meter.export_wh = args.import_wh, args.export_wh
    server = MeterServer(meter, unit=args.unit, site_unit=args.site_unit)
    info: dict[str, Any] = {"map": mmap.name}
    if args.tcp:
        host, port = _host_port(args.tcp)
        info["port"] = await server.start_tcp(host, port)
    else:
        await server.start_rtu(args.rtu, args.baudrate)
        info["path"] = args.rtu
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
        key = ocmf.load_public_key(text)
        mmap = mmap.signing(OCMF_BLOCK)
    poller = mp.MeterPoller(mmap, time.monotonic(), unit=args.unit, site_unit=args.site_unit,
                            interval=args.interval, rated_power_w=args.rated_power,
                            public_key=key, signed_every=1 if key else None)
    timeout = poller.timeout
    client = (tcp_client(*_host_port(args.tcp), timeout) if args.tcp
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
