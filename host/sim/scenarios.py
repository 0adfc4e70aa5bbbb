"""The scenarios of `v2gate simulate`. Each returns the JSON summary dict.

basic-ac   plug in, 16 A by PWM, charge, stop, unplug.
host-crash SIGKILL the host while charging; the firmware must reach its safe state
           (contactor open, CP F) within link_timeout_ms + 50 by itself. A restarted
           host then reads why from the firmware, as a systemd restart would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from firmware.link import messages as m
from host.sim import processes as proc

LINK_TIMEOUT_MS = 500
Scenario = Callable[[str], Awaitable[dict[str, Any]]]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    cp_states: list[str] = []
    contactor: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    duty = None
    for r in records:
        e = r.get("event")
        if e == "cp":
            if not cp_states and r["from"] != "?":
                cp_states.append(r["from"])
            cp_states.append(r["to"])
        elif e == "contactor":
            contactor.append({"t": r["t"], "closed": r["closed"], "reason": r["reason"]})
        elif e == "fault":
            faults.append({"t": r["t"], "code": r["code"], "fault": r["fault"],
                           "detail_ms": r["detail_ms"]})
        elif e == "offer":
            duty = r["duty_percent"]
    return {"cp_states": cp_states, "pwm_duty_percent": duty, "contactor_events": contactor,
            "faults": faults}


class Bench:
    """One firmware process on a pty, with what the host and the plant reported."""

    def __init__(self, pty: proc.Pty, t0: float) -> None:
        self.pty = pty
        self.t0 = t0
        self.records: list[dict[str, Any]] = []
        self.plant: list[dict[str, Any]] = []

    def fw_ms(self, event: str, **match: Any) -> list[int]:
        """Firmware-clock times of host records of one kind (e.g. contactor opens)."""
        return [r["fw_ms"] for r in self.records if r.get("event") == event
                and all(r.get(k) == v for k, v in match.items())]

    def plant_ms(self, name: str) -> int | None:
        hits = [p["fw_ms"] for p in self.plant if p["plant"] == name]
        return hits[0] if hits else None


async def run_bench(runtime: str, sim: dict[str, Any],
                    body: Callable[[Bench], Awaitable[Any]]) -> tuple[Bench, Any]:
    pty = proc.Pty.open()
    fw = None
    plant_task = None
    try:
        fw = await proc.start_firmware(pty, sim, runtime)
        bench = Bench(pty, time.monotonic())
        plant_task = asyncio.create_task(proc.read_plant(fw, bench.plant))
        await asyncio.sleep(0.1)
        if fw.returncode is not None:
            raise RuntimeError("firmware exited at start")
        extra = await body(bench)
        return bench, extra
    finally:
        await proc.stop(fw)
        if plant_task is not None:
            plant_task.cancel()
        pty.close()


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
    return {"result": "pass" if ok else "fail", **s, "peak_current_a": peak, "timeline": records}


async def host_crash(runtime: str) -> dict[str, Any]:
    async def body(b: Bench) -> dict[str, Any]:
        pty, records, t0 = b.pty, b.records, b.t0
        host = await proc.start_host(pty)
        reader = asyncio.create_task(proc.read_records(host, records))
        # wait until the EV draws current, then kill the host mid-charge
        deadline = time.monotonic() + 15
        while not any(r.get("event") == "telemetry" and r["current_a"] > 1 for r in records):
            if time.monotonic() > deadline:
                raise RuntimeError("the EV never started charging")
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
    return {"result": "pass" if ok else "fail", **s, "safe_state_ms": safe_ms,
            "link_timeout_ms": LINK_TIMEOUT_MS, "safe_state_confirmed": safe, "timeline": records}


def _in_order(seq: list[str], want: list[str]) -> bool:
    it = iter(seq)
    return all(any(x == w for x in it) for w in want)


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "basic-ac": (basic_ac, "plug in, 16 A by PWM, charge, stop, unplug"),
    "host-crash": (host_crash, "kill the host mid-charge; firmware must fail safe by itself"),
}


async def slac(runtime: str, validate: bool = False) -> dict[str, Any]:
    """ISO 15118-3 SLAC: our EVSE against our EV (no firmware involved)."""
    from host.slac.scenario import run_slac_scenario

    out = await run_slac_scenario(json_out=True, validate=validate)
    result = "pass" if out.pop("result") == "match" else "fail"
    return {"result": result, "slac": out, "timeline": []}


async def slac_validate(runtime: str) -> dict[str, Any]:
    return await slac(runtime, validate=True)


HOST_ONLY: set[str] = set()  # scenarios that start no firmware


def _register_more() -> None:
    from host.sim import fault_scenarios, grid_scenarios

    SCENARIOS.update(fault_scenarios.SCENARIOS)
    SCENARIOS.update(grid_scenarios.SCENARIOS)
    for name, scenario, text in (
        ("slac", slac, "SLAC match, EVSE and EV: veth pair in netns when root, else in-process"),
        ("slac-validate", slac_validate,
         "SLAC with validation: the EV toggles the CP, the EVSE counts"),
    ):
        SCENARIOS[name] = (scenario, text)
        HOST_ONLY.add(name)


_register_more()
