"""Simulated chargers for the fleet tests, the benchmark and demos: each one a real MQTT
session of its own (TLS, persistent) with its own outbox queue, in one event loop.

A simulated charger draws `max_charge_w` unless a setpoint says otherwise: a "target"
is followed (within the charger's capacity), a "limit" caps the import. Its telemetry
goes out every `period` seconds through the outbox, whatever the broker's state.

`python -m host.fleet.simfleet` runs one slice of a larger fleet as a child process
(`serve_slice`: JSON lines out, commands in), so a benchmark can spread its chargers
over several processes, each with its own outbox file, and time what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from host.fleet.charger import ChargerLink
from host.fleet.mqtt import Broker
from host.fleet.outbox import Outbox
from host.fleet.topics import Setpoint


@dataclass
class SimCharger:
    link: ChargerLink
    max_charge_w: float
    max_discharge_w: float
    power_w: float = 0.0
    received: list[tuple[Setpoint, float]] = field(default_factory=list)  # (setpoint, at)

    def step(self, now: float) -> tuple[str, str, Callable[[int], bytes]]:
        target = self.link.holder.target(now)
        limit = self.link.holder.limit(now)
        power = self.max_charge_w if target is None else target
        if limit is not None:
            power = min(power, limit)
        self.power_w = max(-self.max_discharge_w, min(self.max_charge_w, power))
        return self.link.telemetry(power_w=self.power_w, max_charge_w=self.max_charge_w,
                                   max_discharge_w=self.max_discharge_w, cp_state="C")  # fmt: skip


class SimFleet:
    def __init__(self, broker: Broker, folder: Path, count: int, *, feeders: int = 1,
                 period: float = 1.0, seed: int = 1, durable: bool = False,
                 clock: Callable[[], float] = time.time, first: int = 0) -> None:  # fmt: skip
        """`first`: the number of the first charger (c0000, ...), so that several fleets
        (processes) together make one larger fleet with distinct names."""
        rng = random.Random(seed + first)
        self.outbox = Outbox(folder / "fleet-outbox.sqlite", durable=durable)
        self.period, self.clock = period, clock
        self.paused = False  # no new records (what is queued still goes out)
        self.chargers: list[SimCharger] = []
        for i in range(first, first + count):
            name, feeder = f"c{i:04d}", f"f{i % feeders}"
            sim = SimCharger(ChargerLink(name, feeder, self.outbox, broker, clock=clock),
                             max_charge_w=rng.choice((7400.0, 11000.0, 22000.0)),
                             max_discharge_w=rng.choice((3700.0, 7400.0, 11000.0)))  # fmt: skip
            sim.link.batched_acks = True
            sim.link.on_setpoint = lambda sp, at, sim=sim: sim.received.append((sp, at))
            self.chargers.append(sim)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for sim in self.chargers:
                tg.create_task(sim.link.run())
            tg.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            now = self.clock()
            self.outbox.flush()
            if not self.paused:
                self.outbox.put_many([sim.step(now) for sim in self.chargers])
            for sim in self.chargers:
                sim.link.wake()
            await asyncio.sleep(self.period)

    def connected(self) -> int:
        return sum(1 for sim in self.chargers if sim.link.connected.is_set())

    def pending(self) -> int:
        self.outbox.flush()
        return sum(self.outbox.pending_count(sim.link.charger) for sim in self.chargers)


class LoopLag:
    """How late this process's event loop wakes a task that sleeps `interval`: the lag
    every other task of the loop also suffers (a receipt time taken by a lagging loop is
    the loop's delay, not the network's)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[float] = []  # seconds late, since the last `take`

    async def run(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, time.monotonic() - t0 - self.interval))

    def take(self) -> list[float]:
        samples, self.samples = self.samples, []
        return samples


async def serve_slice(fleet: SimFleet, say: Callable[[str], None],
                      commands: asyncio.Queue[str], report: float = 0.5) -> None:  # fmt: skip
    """Run `fleet` as one slice of a larger one, for a parent process (benchmarks/fleet.py).

    Out (`say`, one JSON object a line): a `hello` line, then every `report` seconds the
    slice's state: chargers connected, records queued, the loop's lag (max and median ms
    over the interval, from `LoopLag`), each setpoint's first receipt per (charger, event)
    as [charger, event, setpoint_w, at], and after a `mark` whether every record stored up
    to the mark has been acknowledged (`drained`). In (`commands`): `mark`, `quiet` (no
    new records, so the queue can empty), and `stop`, answered with the final counts.
    """
    lag = LoopLag()
    seen: set[tuple[str, str]] = set()
    mark: dict[str, int] | None = None
    say(json.dumps({"hello": len(fleet.chargers), "pid": os.getpid(),
                    "max_discharge_w": sum(s.max_discharge_w for s in fleet.chargers)}))  # fmt: skip

    def drained() -> bool | None:
        if mark is None:
            return None
        return all(not (head := fleet.outbox.pending(c, 1)) or head[0][0] > last
                   for c, last in mark.items())  # fmt: skip

    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(fleet.run())
        prober = tg.create_task(lag.run())
        while True:
            try:
                command = await asyncio.wait_for(commands.get(), report)
            except TimeoutError:
                command = ""
            if command == "mark":
                fleet.outbox.flush()
                mark = {s.link.charger: fleet.outbox.last_number(s.link.charger)
                        for s in fleet.chargers}  # fmt: skip
            elif command == "quiet":
                fleet.paused = True
            elif command in ("stop", "eof"):
                break
            new = [(s.link.charger, sp.event, sp.setpoint_w, at) for s in fleet.chargers
                   for sp, at in s.received if (s.link.charger, sp.event) not in seen]  # fmt: skip
            seen.update((c, e) for c, e, _, _ in new)
            samples = sorted(lag.take()) or [0.0]
            say(json.dumps({"connected": fleet.connected(), "pending": fleet.pending(),
                            "lag_ms": [samples[-1] * 1000, samples[len(samples) // 2] * 1000],
                            "received": new, "drained": drained(),
                            "resends": sum(s.link.counts.resends for s in fleet.chargers)}))  # fmt: skip
        runner.cancel()
        prober.cancel()
    stored = sum(fleet.outbox.last_number(s.link.charger) for s in fleet.chargers)
    say(json.dumps({"final": True, "stored": stored, "left": fleet.pending(),
                    "resends": sum(s.link.counts.resends for s in fleet.chargers)}))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`python -m host.fleet.simfleet --port P --cafile F --first I --count N --folder D`:
    one slice of a fleet, driven by `serve_slice` over stdin/stdout."""
    ap = argparse.ArgumentParser(description="one slice of a simulated fleet (a child process)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", type=Path, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--feeders", type=int, default=1)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--folder", type=Path, required=True)
    args = ap.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[str] = asyncio.Queue()

        def read() -> None:  # a thread: stdin is a pipe the loop need not poll
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, line.strip())
            loop.call_soon_threadsafe(commands.put_nowait, "eof")

        threading.Thread(target=read, daemon=True).start()
        fleet = SimFleet(Broker(args.host, args.port, cafile=args.cafile), args.folder,
                         args.count, feeders=args.feeders, period=args.period,
                         first=args.first)  # fmt: skip
        await serve_slice(fleet, lambda line: print(line, flush=True), commands)

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
