"""What every firmware scenario shares: a firmware process on a pty and its records.

Records reach whoever set `LISTENER` (the CLI, to print them as they come) the moment a
scenario appends them, while the scenario keeps its own list for the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, SupportsIndex

from host.bench import processes as proc

Scenario = Callable[[str], Awaitable[dict[str, Any]]]
Listener = Callable[[dict[str, Any]], None]

LISTENER: ContextVar[Listener | None] = ContextVar("bench_listener", default=None)


class BenchError(Exception):
    """The bench itself cannot run (the firmware does not start, the EV never charges):
    not a verdict on the firmware's behaviour."""


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Hand every record of the scenarios run inside to `listener` as it arrives."""
    token = LISTENER.set(listener)
    try:
        yield
    finally:
        LISTENER.reset(token)


class Timeline(list[dict[str, Any]]):
    """The host's records in arrival order; each is also given to the listener."""

    def __init__(self, records: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(records)
        self.listener = LISTENER.get()

    def append(self, record: dict[str, Any]) -> None:
        super().append(record)
        if self.listener is not None:
            self.listener(record)

    def insert(self, index: SupportsIndex, record: dict[str, Any]) -> None:
        super().insert(index, record)
        if self.listener is not None:
            self.listener(record)


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
        self.records: list[dict[str, Any]] = Timeline()
        self.plant: list[dict[str, Any]] = []
        self.fw_log: deque[str] = deque(maxlen=5)  # the firmware's last non-JSON lines

    def fw_ms(self, event: str, **match: Any) -> list[int]:
        """Firmware-clock times of host records of one kind (e.g. contactor opens)."""
        return [r["fw_ms"] for r in self.records if r.get("event") == event
                and all(r.get(k) == v for k, v in match.items())]

    def plant_ms(self, name: str) -> int | None:
        hits = [p["fw_ms"] for p in self.plant if p["plant"] == name]
        return hits[0] if hits else None


async def run_bench(runtime: str, sim: dict[str, Any], body: Callable[[Bench], Awaitable[Any]],
                    board: str = "sim") -> tuple[Bench, Any]:
    """Run `body` against a firmware process of `board` (sim, sim-dc); BenchError if the
    firmware stops meanwhile."""
    pty = proc.Pty.open()
    fw = None
    tasks: list[asyncio.Future[Any]] = []
    try:
        try:
            fw = await proc.start_firmware(pty, sim, runtime, board)
        except OSError as exc:
            raise BenchError(f"the firmware ({runtime}) cannot start: {exc}") from None
        bench = Bench(pty, time.monotonic())
        tasks.append(asyncio.ensure_future(proc.read_plant(fw, bench.plant, bench.fw_log)))
        job = asyncio.ensure_future(body(bench))
        exited = asyncio.ensure_future(fw.wait())
        tasks += [job, exited]
        await asyncio.wait((job, exited), return_when=asyncio.FIRST_COMPLETED)
        if not job.done():
            await asyncio.sleep(0.05)  # the last words on its stderr
            said = ": " + bench.fw_log[-1] if bench.fw_log else ""
            raise BenchError(f"the firmware ({runtime}) exited with code {fw.returncode}{said}")
        return bench, job.result()
    finally:
        for task in tasks:  # the body's own cleanup (stopping the host) runs here
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proc.stop(fw)
        pty.close()
