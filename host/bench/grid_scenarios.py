"""Grid scenarios of `v2gate simulate` (IEEE 1547 functions in the firmware).

freq-dip      charging at 16 A, the grid frequency falls 0.3 Hz at 0.5 Hz/s: the
              firmware's droop asks for less charging; `response_ms` runs from the
              start of the dip to the first GridStatus frame carrying the adjustment
islanding     exporting, then the grid disappears: the contactor must open
              (IEEE 1547 allows 2 s; we aim at a few cycles)
ride-through  exporting through two 30 degree phase jumps and a 200 ms sag to 50 %:
              no trip, the contactor stays closed
overvoltage   exporting, the grid swells to 1.15 pu: OV1 trips. Its Cat II default
              clearing time is 2 s; the host sets 1 s over the link (SetConfig
              grid_ov1_ms, inside IEEE 1547's 1-13 s) to keep the run short
undervoltage  exporting, the grid sags to 0.40 pu: UV2 trips (0.45 pu, 0.16 s)
uv2-deep      exporting, the grid sags to 0.10 pu (no zero crossings): still UV2

For the voltage trips `swell_to_open_ms` / `sag_to_open_ms` run from the grid event to
the contacts parting: the firmware's ContactorChanged(open), when it released the coil
(`..._to_command_ms`), plus the sim plant's `contactor_ms` (20 ms; its current flows
until then). IEEE 1547 times the clearing to ceasing to energize, so that must come by
the clearing time; the firmware takes a control tick and the board's `contactor.open_ms`
off it and places the start of the excursion up to a half cycle early, so the window is
[clearing - tick - half cycle - 5 ms of rounding, clearing]. `trip` is the cause the
Fault carried.

Times are on the firmware's clock: the sim plant logs when it scheduled each grid
event, the firmware stamps its frames.
"""

from __future__ import annotations

from typing import Any

from firmware.app import faults, gridfunc
from firmware.sim.plant import DEFAULTS as PLANT
from host.bench.bench import Bench, Scenario, run_bench, summarize
from host.bench.fault_scenarios import CHARGE_START_MS, serve_until
from host.bench.registry import register_many

# the host sets these over the link (SetConfig), as an operator would for a fast response
FAST_DROOP = ("--set", "grid_category=3", "--set", "droop_profile=1", "--set", "droop_step_w=10")


def _grid_trace(b: Bench) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("t", "fw_ms", "freq_hz", "rocof_hz_s", "v_rms", "droop_w", "refused", "trip")}
            for r in b.records if r.get("event") == "grid"]


async def freq_dip(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000,
           "grid": {"thd": True, "events": [["ramp", 3.0, 3.6, -0.5]]}}

    async def body(b: Bench) -> None:
        await serve_until(b, lambda _: False, 7.0, *FAST_DROOP)

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    trace = _grid_trace(bench)
    start = bench.plant_ms("grid-ramp")
    after = [g for g in trace if start is not None and g["fw_ms"] >= start and abs(g["droop_w"]) >= 10]
    response_ms = after[0]["fw_ms"] - start if after else None
    lowest = min((g["freq_hz"] for g in trace if g["freq_hz"] > 0), default=0.0)
    final_droop = trace[-1]["droop_w"] if trace else 0
    applied = [r for r in bench.records if r.get("event") == "droop-applied"]
    ok = (response_ms is not None and response_ms < 250 and 49.65 <= lowest <= 49.75
          and final_droop > 1000 and bool(applied) and not s["faults"])
    after_a = applied[-1]["current_a"] if applied else None
    verdict = (f"droop answered {response_ms} ms after the dip began, limit 250 ms"
               if response_ms is not None else "no droop answer to the dip")
    verdict += (f"; lowest {lowest:.3f} Hz (expected 49.65-49.75), droop {final_droop} W "
                f"(expected above 1000), offer 16 A -> {after_a} A; {len(s['faults'])} fault(s)")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "response_ms": response_ms,
            "lowest_freq_hz": lowest, "droop_w": final_droop,
            "current_after_droop_a": after_a,
            "grid_trace": trace, "timeline": bench.records}


async def islanding(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000,
           "grid": {"thd": True, "events": [["dropout", 4.0, 8.0]]}}

    def done(b: Bench) -> bool:
        t = b.plant_ms("grid-dropout")
        return t is not None and any(ms >= t for ms in b.fw_ms("contactor", closed=False))

    async def body(b: Bench) -> None:
        await serve_until(b, done, 8.0, "--export")

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    t = bench.plant_ms("grid-dropout")
    exported = any(c["closed"] for c in s["contactor_events"])
    opens = [ms for ms in bench.fw_ms("contactor", closed=False) if t is not None and ms >= t]
    open_ms = opens[0] - t if opens and t is not None else None
    ok = exported and open_ms is not None and open_ms <= 2000 and 60 in [f["code"] for f in s["faults"]]
    verdict = (f"contactor opened {open_ms} ms after the grid dropped out, limit 2000 ms"
               if open_ms is not None else "contactor did not open after the grid dropped out")
    verdict += f"; {_trips(s)}" + ("" if exported else "; it never exported")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "exporting_before": exported,
            "time_to_open_ms": open_ms, "limit_ms": 2000, "grid_trace": _grid_trace(bench),
            "timeline": bench.records}


async def ride_through(runtime: str) -> dict[str, Any]:
    events = [["jump", 3.0, 30], ["sag", 3.5, 3.7, 0.5], ["jump", 4.0, -30]]
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000, "grid": {"thd": True, "events": events}}

    async def body(b: Bench) -> None:
        await serve_until(b, lambda _: False, 5.5, "--export")

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    closes = [c for c in s["contactor_events"] if c["closed"]]
    opens = [c for c in s["contactor_events"] if not c["closed"]]
    trace = _grid_trace(bench)
    first = bench.plant_ms("grid-jump") or 0
    trips = sorted({g["trip"] for g in trace if g["trip"] and g["fw_ms"] > first})
    ok = len(closes) == 1 and not opens and not s["faults"] and not trips
    verdict = ("rode through two 30 degree phase jumps and a 200 ms sag to 50 % while exporting: "
               f"contactor closed {len(closes)}x, opened {len(opens)}x (limit 0), "
               f"trips {', '.join(trips) or 'none'}, {_trips(s)} (limit none)")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "disturbances": events,
            "tripped": bool(trips or s["faults"]), "contactor_stayed_closed": bool(closes) and not opens,
            "grid_trace": trace, "timeline": bench.records}


def _trips(s: dict[str, Any]) -> str:
    found = [faults.label(f["code"]) + (f" {gridfunc.TRIP_NAMES[f['detail_ms']]}" if f["code"] == 60
             and f["detail_ms"] < len(gridfunc.TRIP_NAMES) else "") for f in s["faults"]]
    return ", ".join(found) or "no fault"


def _voltage_trip(event: list[Any], want: str, clear_ms: int, *host_args: str) -> Scenario:
    """Exporting, then one grid event (`event`, from 4 s on): the contactor must open
    with a GRID_TRIP fault naming `want`, about `clear_ms` after the event."""
    kind = event[0]

    async def run(runtime: str) -> dict[str, Any]:
        sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000, "grid": {"thd": True, "events": [event]}}

        def done(b: Bench) -> bool:
            t = b.plant_ms("grid-" + kind)
            return t is not None and any(ms >= t for ms in b.fw_ms("contactor", closed=False))

        async def body(b: Bench) -> None:
            await serve_until(b, done, 4.0 + clear_ms / 1000 + 2.0, "--export", *host_args)

        bench, _ = await run_bench(runtime, sim, body)
        s = summarize(bench.records)
        t = bench.plant_ms("grid-" + kind)
        exported = any(c["closed"] for c in s["contactor_events"])
        opens = [ms for ms in bench.fw_ms("contactor", closed=False) if t is not None and ms >= t]
        command_ms = opens[0] - t if opens and t is not None else None
        open_ms = None if command_ms is None else command_ms + PLANT["contactor_ms"]
        trips = [gridfunc.TRIP_NAMES[f["detail_ms"]] for f in s["faults"]
                 if f["code"] == 60 and f["detail_ms"] < len(gridfunc.TRIP_NAMES)]
        trip = trips[0] if trips else None
        earliest = clear_ms - 10 - 10 - 5  # a tick, a half cycle at 50 Hz, rounding
        ok = exported and trip == want and open_ms is not None and earliest <= open_ms <= clear_ms
        verdict = (f"contacts parted {open_ms} ms after the {kind}, limit {clear_ms} ms "
                   f"(not before {earliest} ms)" if open_ms is not None
                   else f"contacts did not part after the {kind}")
        verdict += f"; trip {trip} (expected {want})" + ("" if exported else "; it never exported")
        return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "exporting_before": exported,
                "event": event, "trip": trip, kind + "_to_open_ms": open_ms,
                kind + "_to_command_ms": command_ms, "window_ms": [earliest, clear_ms],
                "clearing_ms": clear_ms, "set_over_link": list(host_args[1::2]),
                "grid_trace": _grid_trace(bench), "timeline": bench.records}

    return run


overvoltage = _voltage_trip(["swell", 4.0, 9.0, 0.15], "OV1", 1000, "--set", "grid_ov1_ms=1000")
undervoltage = _voltage_trip(["sag", 4.0, 9.0, 0.60], "UV2", 160)
uv2_deep = _voltage_trip(["sag", 4.0, 9.0, 0.90], "UV2", 160)


register_many({
    "freq-dip": (freq_dip, "grid falls 0.3 Hz at 0.5 Hz/s while charging: droop response"),
    "islanding": (islanding, "grid disappears while exporting: open within 2 s (a few cycles)"),
    "ride-through": (ride_through, "phase jumps and a sag while exporting: no trip"),
    "overvoltage": (overvoltage, "swell to 1.15 pu while exporting: OV1 trip (1 s, set over the link)"),
    "undervoltage": (undervoltage, "sag to 0.40 pu while exporting: UV2 trip in 0.16 s"),
    "uv2-deep": (uv2_deep, "sag to 0.10 pu (no zero crossings) while exporting: UV2 in 0.16 s"),
}, columns=("grid",))
