"""The charging scenarios of `v2gate simulate`. Each returns the JSON summary dict.

basic-ac   plug in, 16 A by PWM, charge, stop, unplug.
host-crash SIGKILL the host while charging; the firmware must reach its safe state
           (contactor open, CP F) within link_timeout_ms + 50 by itself. A restarted
           host then reads why from the firmware, as a systemd restart would.
slac       ISO 15118-3 SLAC, our EVSE against our EV (host only).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from firmware.link import messages as m
from host.bench import processes as proc
from host.bench.bench import LISTENER, Bench, BenchError, run_bench, summarize
from host.bench.registry import register
from host.slac.constants import TT_MATCHING_REPETITION

LINK_TIMEOUT_MS = 500


async def basic_ac(runtime: str) -> dict[str, Any]:
    async def body(b: Bench) -> None:
        host = await proc.start_host(b.pty, "--sessions", "1")
        try:
            await asyncio.wait_for(proc.read_records(host, b.records), 25)
        finally:
            await proc.stop(host)

    bench, _ = await run_bench(runtime, {"plug_ms": 800, "charge_ms": 3000}, body)
    records = bench.records
    s = summarize(records)
    closed = [c for c in s["contactor_events"] if c["closed"]]
    opened = [c for c in s["contactor_events"] if not c["closed"]]
    ok = (
        _in_order(s["cp_states"], ["A", "B", "C", "B", "A"])
        and len(closed) == 1 and len(opened) == 1 and not s["faults"]
        and any(r.get("event") == "session-ended" for r in records)
    )
    peak = max((r["current_a"] for r in records if r.get("event") == "telemetry"), default=0.0)
    offered = next((r["current_a"] for r in records if r.get("event") == "offer"), None)
    verdict = (f"CP {' -> '.join(s['cp_states']) or 'never moved'} (expected A -> B -> C -> B -> A); "
               f"contactor closed {len(closed)}x, opened {len(opened)}x (expected once each); "
               f"peak {peak:.1f} A of {offered} A offered; {len(s['faults'])} fault(s)")
    return {"result": "pass" if ok else "fail", **s, "peak_current_a": peak,
            "verdict": verdict, "timeline": records}


async def host_crash(runtime: str) -> dict[str, Any]:
    async def body(b: Bench) -> dict[str, Any]:
        pty, records, t0 = b.pty, b.records, b.t0
        host = await proc.start_host(pty)
        reader = asyncio.create_task(proc.read_records(host, records))
        # wait until the EV draws current, then kill the host mid-charge
        deadline = time.monotonic() + 15
        while not any(r.get("event") == "telemetry" and r["current_a"] > 1 for r in records):
            if time.monotonic() > deadline:
                raise BenchError("the EV never started charging")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        killed_at = time.monotonic() - t0
        await proc.stop(host)
        await reader
        records.append({"t": round(killed_at, 3), "event": "host-killed", "signal": "SIGKILL"})
        await asyncio.sleep(1.0)  # as long as a service manager takes to restart it
        offset = time.monotonic() - t0
        again = await proc.start_host(pty, "--report-only")
        await asyncio.wait_for(proc.read_records(again, records, offset), 10)
        await again.wait()
        return {"killed_at": killed_at}

    bench, extra = await run_bench(runtime, {"plug_ms": 500, "charge_ms": 60000}, body)
    records = bench.records
    s = summarize(records)
    link_faults = [f for f in s["faults"] if f["code"] == 10]
    safe_ms = link_faults[0]["detail_ms"] if link_faults else None
    status = [r for r in records if r.get("event") == "status" and r["t"] > extra["killed_at"]]
    safe = bool(status) and status[-1]["contactor"] == 0 and status[-1]["pilot"] == m.PILOT_NAMES[m.PILOT_F]
    ok = safe_ms is not None and safe_ms <= LINK_TIMEOUT_MS + 50 and safe
    limit = f"limit {LINK_TIMEOUT_MS + 50} ms (link timeout {LINK_TIMEOUT_MS} ms + a tick)"
    verdict = ("no link-timeout fault reported: " + limit if safe_ms is None
               else f"safe state {safe_ms} ms after the last host frame, {limit}")
    verdict += ("; the restarted host found the contactor open and CP F" if safe
                else "; the restarted host did NOT find the contactor open and CP F")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "safe_state_ms": safe_ms,
            "link_timeout_ms": LINK_TIMEOUT_MS, "safe_state_confirmed": safe, "timeline": records}


def _in_order(seq: list[str], want: list[str]) -> bool:
    it = iter(seq)
    return all(any(x == w for x in it) for w in want)


async def slac(runtime: str, validate: bool = False) -> dict[str, Any]:
    """ISO 15118-3 SLAC: our EVSE against our EV (no firmware involved)."""
    from host.bench.slac_scenario import run_slac_scenario

    # its steps print as they happen when someone follows the run (text, not --json)
    quiet = LISTENER.get() is None
    out = await run_slac_scenario(json_out=quiet, validate=validate)
    result = "pass" if out.pop("result") == "match" else "fail"
    limit = f"the EV gives up after {TT_MATCHING_REPETITION:g} s"
    if result == "pass":
        verdict = (f"matched in {out['match_ms']:.0f} ms over the {out['transport']} transport, "
                   f"{limit}; attenuation {out['attenuation_db']} dB")
        if validate:
            verdict += f"; validated by {out['validated_toggles']} CP toggle(s)"
    else:
        verdict = f"no match ({out.get('reason')}); {limit}"
    return {"result": result, "verdict": verdict, "slac": out, "timeline": []}


async def slac_validate(runtime: str) -> dict[str, Any]:
    return await slac(runtime, validate=True)


register("basic-ac", basic_ac, "plug in, 16 A by PWM, charge, stop, unplug")
register("host-crash", host_crash, "kill the host mid-charge; firmware must fail safe by itself")
register("slac", slac, "SLAC match, EVSE and EV: veth pair in netns when root, else in-process",
         host_only=True)
register("slac-validate", slac_validate,
         "SLAC with validation: the EV toggles the CP, the EVSE counts", host_only=True)
