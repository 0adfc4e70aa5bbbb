"""A `v2gate` subcommand for tests only: opens a serial port the way the station does.

tests/host/test_cli.py adds it to `host.cli.SUBCOMMANDS` in a child process, so the
generic error handling of `v2gate` meets real pyserial errors (missing or locked port).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import serial

from host.link.driver import LinkDriver


def add_parser(sub: Any) -> None:
    p = sub.add_parser("probe-port", help="(tests) open a serial port")
    p.add_argument("--port", required=True)
    p.add_argument("--exclusive", action="store_true", help="lock it as a sole user would")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.exclusive:
        serial.Serial(args.port, exclusive=True).close()
        return 0

    async def link() -> None:
        driver = LinkDriver(args.port, 115200)
        try:
            await driver.open(timeout=1.0)
        finally:
            driver.close()

    asyncio.run(link())
    return 0
