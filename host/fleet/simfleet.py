"""Simulated chargers for the fleet tests, the benchmark and demos: each one a real MQTT
session of its own (TLS, persistent) with its own outbox queue, in one event loop.

A simulated charger draws `max_charge_w` unless a setpoint says otherwise: a "target"
is followed (within the charger's capacity), a "limit" caps the import. Its telemetry
goes out every `period` seconds through the outbox, whatever the broker's state.
"""

from __future__ import annotations

import asyncio
import random
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
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        rng = random.Random(seed)
        self.outbox = Outbox(folder / "fleet-outbox.sqlite", durable=durable)
        self.period, self.clock = period, clock
        self.chargers: list[SimCharger] = []
        for i in range(count):
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
            self.outbox.put_many([sim.step(now) for sim in self.chargers])
            for sim in self.chargers:
                sim.link.wake()
            await asyncio.sleep(self.period)

    def connected(self) -> int:
        return sum(1 for sim in self.chargers if sim.link.connected.is_set())

    def pending(self) -> int:
        self.outbox.flush()
        return sum(self.outbox.pending_count(sim.link.charger) for sim in self.chargers)
