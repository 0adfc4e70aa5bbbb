"""DC scenarios of `v2gate simulate`, on the `sim-dc` board: the firmware's DC hardware
(firmware/app/dc.py) over the one DC plant model the ISO 15118 DC sessions use.

The host is the station in DC mode (`--dc-voltage`): 5 % PWM, a lease with its power,
CableCheck (IsolationRequest), then the close with precharge; times on the firmware's
clock (the plant logs the trigger, the firmware stamps ContactorChanged and DcStatus).

imd-alarm  the isolation monitor alarms mid-loop, 50 A flowing: F-080, and the pair and
           the power stage open within 50 ms of the alarm
dc-weld    the pair welds when it opens at the end of charge: F-093 from the aux
           contacts, dc_link_v still up at the voltage check ~1 s later, the pair and
           the stage open in the tick the EV stops, and a second plug-in gets no close
"""

from __future__ import annotations

from typing import Any, cast

from boards.sim_dc import BOARD as SIM_DC
from firmware.app import faults, interlocks
from host.bench.bench import Bench, run_bench, summarize
from host.bench.fault_scenarios import serve_until
from host.bench.registry import register_many

BOARD = "sim-dc"
EV_VOLTAGE = "365"  # the sim battery at 50 % SoC (firmware/sim/dcplant.py: 330 + 70 x 0.5 V)
BUDGET_MS = 50
IMD_ALARM_MS = 8000  # from boot: CableCheck (1 s) and the precharge (~2 s) are done by then
# the firmware checks the aux contacts this long after opening (the board's setting)
WELD_CHECK_MS = int(cast(dict, SIM_DC["contactor"])["feedback_ms"])
# and dc_link_v this long after it, against the safe voltage (the board's dc section)
VOLTAGE_CHECK_MS = int(cast(dict, SIM_DC["dc"])["weld_check_ms"])
SAFE_V = int(cast(dict, SIM_DC["dc"])["safe_dv"]) / 10
IMD_CODE = faults.code_of(faults.IMD_ALARM)
WELD_CODE = faults.code_of(faults.DC_WELD)


def _first_at_or_after(times: list[int], t: int) -> int | None:
    later = [ms for ms in times if ms >= t]
    return later[0] - t if later else None


def _stage_off(b: Bench) -> list[int]:
    return [r["fw_ms"] for r in b.records if r.get("event") == "dc" and not r["stage"]]


def _opened(b: Bench) -> list[int]:
    return b.fw_ms("contactor", closed=False)


def _charging_at(b: Bench, t: int) -> float:
    """The DC current the last Telemetry before `t` saw (A)."""
    before = [r for r in b.records if r.get("event") == "telemetry" and r["fw_ms"] <= t]
    return before[-1]["current_a"] if before else 0.0


async def imd_alarm(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": 500, "charge_ms": 60000, "imd_alarm_ms": IMD_ALARM_MS, "dc_current_a": 50}

    def done(b: Bench) -> bool:
        t = b.plant_ms("imd-alarm")
        return t is not None and bool(b.fw_ms("fault", code=IMD_CODE)) \
            and _first_at_or_after(_opened(b), t) is not None

    async def body(b: Bench) -> None:
        await serve_until(b, done, 20, "--dc-voltage", EV_VOLTAGE)

    bench, _ = await run_bench(runtime, sim, body, BOARD)
    s = summarize(bench.records)
    t = bench.plant_ms("imd-alarm")
    open_ms = stage_ms = None
    amps = 0.0
    if t is not None:
        open_ms = _first_at_or_after(_opened(bench), t)
        stage_ms = _first_at_or_after(_stage_off(bench), t)
        amps = _charging_at(bench, t)
    codes = sorted({f["code"] for f in s["faults"]})
    closes = [c for c in s["contactor_events"] if c["closed"]]
    ok = (IMD_CODE in codes and open_ms is not None and open_ms <= BUDGET_MS
          and stage_ms is not None and stage_ms <= BUDGET_MS and amps > 1 and len(closes) == 1)
    verdict = (f"IMD alarm at {amps:.1f} A: pair opened {open_ms} ms and power stage off "
               f"{stage_ms} ms after it (firmware clock, limit {BUDGET_MS} ms); "
               if t is not None else "the IMD never alarmed; ")
    verdict += (", ".join(faults.label(c) for c in codes) or "no fault") + \
        f" (expected {faults.label(IMD_CODE)}); closed {len(closes)}x (expected once, before the alarm)"
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "fault_codes": codes,
            "trigger": "imd-alarm", "trigger_to_open_ms": open_ms, "trigger_to_stage_off_ms": stage_ms,
            "current_at_trigger_a": amps, "budget_ms": BUDGET_MS, "plant": bench.plant,
            "timeline": bench.records}


async def dc_weld(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": 500, "charge_ms": 1500, "dc_weld": True, "sessions": 2, "dc_current_a": 50}

    def done(b: Bench) -> bool:
        plugs = [p["fw_ms"] for p in b.plant if p["plant"] == "plug"]
        return bool(b.fw_ms("fault", code=WELD_CODE)) and len(plugs) >= 2 and any(
            r.get("event") == "telemetry" and r["fw_ms"] > plugs[1] + 1500 for r in b.records)

    async def body(b: Bench) -> None:
        await serve_until(b, done, 25, "--dc-voltage", EV_VOLTAGE)

    bench, _ = await run_bench(runtime, sim, body, BOARD)
    s = summarize(bench.records)
    closes = [c for c in s["contactor_events"] if c["closed"]]
    codes = sorted({f["code"] for f in s["faults"]})
    # the trigger: the EV stops (S2 opens, C -> B); the pair and the stage must follow
    stops = [r["fw_ms"] for r in bench.records if r.get("event") == "cp" and r["from"] == "C"]
    open_ms = _first_at_or_after(_opened(bench), stops[0]) if stops else None
    stage_ms = _first_at_or_after(_stage_off(bench), stops[0]) if stops else None
    weld_at = bench.plant_ms("dc-weld")
    found = bench.fw_ms("fault", code=WELD_CODE)
    detect_ms = found[0] - weld_at if found and weld_at is not None else None
    # the second check: dc_link_v when the pair leaves settling (weld_check_ms after it)
    settled = [r for r in bench.records if r.get("event") == "dc" and r["phase"] == "open"
               and weld_at is not None and r["fw_ms"] > weld_at]
    link_v = settled[0]["dc_link_v"] if settled else None
    last = [r for r in bench.records if r.get("event") == "status"][-1:]
    still = bool(last) and bool(last[0]["latched"] & faults.DC_WELD) \
        and bool(last[0]["refused"] & interlocks.FAULT)
    plugs = len([p for p in bench.plant if p["plant"] == "plug"])
    ok = (WELD_CODE in codes and len(closes) == 1 and done(bench) and still
          and link_v is not None and link_v >= SAFE_V
          and open_ms is not None and open_ms <= BUDGET_MS
          and stage_ms is not None and stage_ms <= BUDGET_MS)
    verdict = (f"EV stopped: pair opened {open_ms} ms and power stage off {stage_ms} ms later "
               f"(firmware clock, limit {BUDGET_MS} ms); ")
    verdict += (f"weld found {detect_ms} ms after the opening (the aux contacts are read "
                f"{WELD_CHECK_MS} ms after it): {faults.label(WELD_CODE)}; " if detect_ms is not None
                else "weld NOT found; ")
    verdict += (f"dc_link_v still {link_v} V at the voltage check {VOLTAGE_CHECK_MS} ms after it "
                f"(open: below {SAFE_V:g} V); " if link_v is not None else "no voltage check seen; ")
    verdict += (f"{len(closes)} close in {plugs} plug-in(s) (limit 1: none after the weld); "
                + ("the fault stays latched and refuses closing" if still else "the fault did NOT stay latched"))
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "fault_codes": codes,
            "closes": len(closes), "still_latched": still, "weld_to_detect_ms": detect_ms,
            "dc_link_v_at_check": link_v,
            "trigger": "ev-stop", "trigger_to_open_ms": open_ms, "trigger_to_stage_off_ms": stage_ms,
            "budget_ms": BUDGET_MS, "plant": bench.plant, "timeline": bench.records}


register_many({
    "imd-alarm": (imd_alarm, "DC: the isolation monitor alarms mid-loop: F-080, pair and stage open"),
    "dc-weld": (dc_weld, "DC: the pair welds at the end of charge: F-093, no further close"),
})
