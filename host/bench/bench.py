"""What every firmware scenario shares: a firmware process on a pty and its records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from host.bench import processes as proc

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
