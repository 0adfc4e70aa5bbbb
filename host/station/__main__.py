"""`python -m host.station --port DEV`: serve one connector, one JSON line per event.

This is the host process `v2gate simulate` starts; `v2gate run` will wrap the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from firmware.link import messages as m
from host.link.driver import LinkDriver
from host.station.basic import BasicAcStation


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host.station")
    ap.add_argument("--port", required=True)
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--sessions", type=int, default=None, help="exit after N sessions")
    ap.add_argument("--report-only", action="store_true",
                    help="connect, report the firmware's state and why, and exit")
    ap.add_argument("--current", type=float, default=16.0, help="offered current (A)")
    ap.add_argument("--export", action="store_true", help="lease for export (V2G discharge)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="SetConfig at start, e.g. grid_category=3 (see docs/link.md)")
    args = ap.parse_args(argv)
    names = {name: key for key, (name, _, _) in m.CONFIG_KEYS.items()}
    config: dict[int, int] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in names or not value.lstrip("-").isdigit():
            ap.error(f"--set {item}: expected KEY=INTEGER with KEY one of {', '.join(names)}")
        config[names[name]] = int(value)
    t0 = time.monotonic()

    def emit(rec: dict[str, Any]) -> None:
        rec = {"t": round(time.monotonic() - t0, 3), **rec}
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()

    async def serve() -> None:
        driver = LinkDriver(args.port, args.baud)
        station = BasicAcStation(driver, emit, max_current_da=round(args.current * 10),
                                 export=args.export, config=config)
        try:
            await station.start(clear_failsafe=not args.report_only)
            if not args.report_only:
                await station.run(args.sessions)
        finally:
            driver.close()

    try:
        asyncio.run(serve())
    except (TimeoutError, ConnectionError) as e:
        emit({"event": "error", "error": str(e) or type(e).__name__})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
