"""Fault scenarios of `v2gate simulate`: the firmware's own protections, end to end.

Each injects one fault in the sim plant while the EV charges and reports the fault
codes and the time from the trigger to the contactor opening, both on the
firmware's clock (the plant logs the trigger, the firmware stamps its reaction).

weld              the contactor welds when it opens at the end of charge: F-092, and
                  a second plug-in gets no close
rcd-trip          residual current while charging: F-030
diode-fault       the EV's CP diode shorts while charging: F-020
estop             emergency stop pressed while charging: F-040
thermal-foldback  the connector heats into the derating band and cools again: the
                  current falls smoothly and recovers, with hysteresis, no trip
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from boards.sim import BOARD as SIM_BOARD
from firmware.app import faults
from host.bench import processes as proc
from host.bench.bench import Bench, Scenario, run_bench, summarize
from host.bench.registry import register_many

CHARGE_START_MS = 500  # plug-in time in the plant
# the firmware checks the aux contact this long after opening (the sim board's setting)
WELD_CHECK_MS = int(cast(dict, SIM_BOARD["contactor"])["feedback_ms"])


async def serve_until(b: Bench, done: Any, timeout: float, *host_args: str) -> None:
    host = await proc.start_host(b.pty, *host_args)
    reader = asyncio.create_task(proc.read_records(host, b.records))
    deadline = time.monotonic() + timeout
    try:
        while not done(b) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let the Status after the event arrive
    finally:
        await proc.stop(host)
        await reader


def _opened_after(b: Bench, trigger: str) -> int | None:
    t = b.plant_ms(trigger)
    if t is None:
        return None
    opens = [ms for ms in b.fw_ms("contactor", closed=False) if ms >= t]
    return opens[0] - t if opens else None


def _fault_scenario(trigger: str, code: int, sim: dict[str, Any], budget_ms: int) -> Scenario:
    async def run(runtime: str) -> dict[str, Any]:
        def done(b: Bench) -> bool:
            return any(r.get("event") == "fault" and r["code"] == code for r in b.records) \
                and _opened_after(b, trigger) is not None

        async def body(b: Bench) -> None:
            await serve_until(b, done, 15)

        bench, _ = await run_bench(runtime, {"plug_ms": CHARGE_START_MS, **sim}, body)
        s = summarize(bench.records)
        open_ms = _opened_after(bench, trigger)
        codes = sorted({f["code"] for f in s["faults"]})
        ok = code in codes and open_ms is not None and open_ms <= budget_ms
        raised = ", ".join(faults.label(c) for c in codes) or "no fault"
        verdict = (f"contactor opened {open_ms} ms after the {trigger}, limit {budget_ms} ms"
                   if open_ms is not None else f"contactor did not open after the {trigger}")
        verdict += f"; {raised} (expected {faults.label(code)})"
        return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "fault_codes": codes,
                "trigger": trigger, "trigger_to_open_ms": open_ms, "budget_ms": budget_ms,
                "plant": bench.plant, "timeline": bench.records}

    return run


async def weld(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 1500, "weld": True, "sessions": 2}

    def done(b: Bench) -> bool:
        # the EV came back after the weld was found, and a while has passed
        plugs = [p["fw_ms"] for p in b.plant if p["plant"] == "plug"]
        found = b.fw_ms("fault", code=92)
        return bool(found) and len(plugs) >= 2 and any(
            r.get("event") == "telemetry" and r["fw_ms"] > plugs[1] + 1500 for r in b.records)

    async def body(b: Bench) -> None:
        await serve_until(b, done, 18)

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    closes = [c for c in s["contactor_events"] if c["closed"]]
    weld_at = bench.plant_ms("weld")
    found = [r["fw_ms"] for r in bench.records if r.get("event") == "fault" and r["code"] == 92]
    codes = sorted({f["code"] for f in s["faults"]})
    last = [r for r in bench.records if r.get("event") == "status"][-1:]
    still_latched = bool(last) and bool(last[0]["latched"] & (1 << 5)) and bool(last[0]["refused"] & 4)
    ok = 92 in codes and len(closes) == 1 and done(bench) and still_latched
    detect_ms = (found[0] - weld_at) if found and weld_at else None
    plugs = len([p for p in bench.plant if p["plant"] == "plug"])
    verdict = (f"weld found {detect_ms} ms after the contactor was told to open (the aux-contact "
               f"check runs {WELD_CHECK_MS} ms after opening): F-092; " if detect_ms is not None
               else "weld NOT found; ")
    verdict += (f"{len(closes)} close in {plugs} plug-in(s) (limit 1: none after the weld); "
                + ("the fault stays latched and refuses closing" if still_latched else "the fault did NOT stay latched"))
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "fault_codes": codes,
            "closes": len(closes), "still_latched": still_latched, "weld_to_detect_ms": detect_ms,
            "plant": bench.plant, "timeline": bench.records}


async def thermal_foldback(runtime: str) -> dict[str, Any]:
    profile = [[0, 300], [1500, 300], [8000, 860], [9500, 860], [12000, 550]]
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000, "ev_max_da": 320,
           "temp_profile": profile}

    async def body(b: Bench) -> None:
        await serve_until(b, lambda _: False, 17.5, "--current", "32")

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    trace = [{"t": r["t"], "temp_c": r["temp_c"], "current_a": r["current_a"]}
             for r in bench.records if r.get("event") == "telemetry"]
    limits = [{"t": r["t"], "limit_a": r["limit_a"]} for r in bench.records
              if r.get("event") == "status"]
    charging = [p for p in trace if p["current_a"] > 1]
    peak = max((p["current_a"] for p in charging), default=0.0)
    low = min((p["current_a"] for p in charging), default=0.0)
    hottest_t = max(charging, key=lambda p: p["temp_c"])["t"] if charging else 0
    recovered = max((p["current_a"] for p in charging if p["t"] > hottest_t), default=0.0)
    steps = [abs(a["current_a"] - b["current_a"]) for a, b in zip(charging, charging[1:], strict=False)
             if a["t"] < hottest_t]
    opened = len([c for c in s["contactor_events"] if not c["closed"]])
    ok = not s["faults"] and peak > 30 and 6 <= low < peak * 0.6 and recovered > low + 5 and not opened
    hottest = max((p["temp_c"] for p in charging), default=0.0)
    verdict = (f"derated from {peak:.1f} A to {low:.1f} A (limit: below {peak * 0.6:.1f} A, at least "
               f"6 A) at up to {hottest:.0f} C, recovered to {recovered:.1f} A (limit: above "
               f"{low + 5:.1f} A); largest step while heating {max(steps, default=0.0):.1f} A; "
               f"{len(s['faults'])} fault(s), contactor opened {opened}x (limit 0)")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "peak_current_a": peak,
            "derated_to_a": low, "recovered_to_a": recovered,
            "largest_step_while_heating_a": max(steps, default=0.0),
            "trace": trace, "limits": limits, "timeline": bench.records}


register_many({
    "thermal-foldback": (thermal_foldback, "connector heats into derating and cools; no trip"),
}, columns=("thermal",))
register_many({
    "weld": (weld, "contactor welds at the end of charge: F-092, no further close"),
    "rcd-trip": (_fault_scenario("rcd-trip", 30, {"rcd_trip_ms": 2500, "charge_ms": 60000}, 50),
                 "residual current while charging: F-030, open within a tick"),
    "diode-fault": (_fault_scenario("diode-short", 20, {"diode_fail_ms": 2500, "charge_ms": 60000}, 50),
                    "EV's CP diode shorts while charging: F-020"),
    "estop": (_fault_scenario("estop", 40, {"estop_ms": 2500, "charge_ms": 60000}, 50),
              "emergency stop while charging: F-040"),
})
