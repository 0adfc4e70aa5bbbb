"""A real mosquitto (TLS), a `v2gate fog` process and 50 simulated chargers, each with its
own MQTT session: telemetry flows, a DR event is dispatched, and a broker killed and
restarted loses no telemetry record and needs no fog restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from host.fleet import topics
from host.fleet.simfleet import SimFleet
from host.fleet.topics import DrEvent
from tests.apt import require
from tests.host.fleet.broker import FogProcess, Mosquitto
from tests.host.fleet.hang import stop, within

# the fleet tests and benchmark (40-50 MQTT-over-TLS sessions each, the suite's heaviest
# load) run one at a time under pytest-xdist (tests/conftest.py holds a lock per group)
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("fleet")]

CHARGERS = 50


async def _until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def test_fleet_dr_dispatch_and_broker_restart(tmp_path: Path) -> None:
    broker = Mosquitto(require("mosquitto"), tmp_path / "broker")
    broker.start()
    fog = FogProcess(broker)
    try:
        # under pytest-timeout's 300 s, so a hang says where (tests/host/fleet/hang.py)
        asyncio.run(within(_scenario(broker, fog, tmp_path), 260, "the fleet scenario"))
    finally:
        fog.stop()
        broker.stop()


async def _scenario(broker: Mosquitto, fog: FogProcess, tmp_path: Path) -> None:
    await fog.wait_for(lambda f: any("subscribed" in line for line in f.lines), 20)
    fleet = SimFleet(broker.broker(), tmp_path, CHARGERS, feeders=2, period=0.5)
    runner = asyncio.create_task(fleet.run())
    try:
        await _until(lambda: fleet.connected() == CHARGERS, 30, "every charger connected")
        await fog.wait_for(lambda f: f.counts.get("chargers") == CHARGERS, 20)

        # a DR event on feeder f0 (25 chargers): every one of them gets its share
        target = -60_000.0
        event = DrEvent("ev-test", "f0", target, time.time(), 120.0)
        t0 = time.time()
        async with broker.broker().client("derms", clean=True) as derms:
            await derms.publish(topics.dr_topic("f0"), event.encode(), qos=1)
        f0 = [s for s in fleet.chargers if s.link.feeder == "f0"]
        await _until(lambda: all(any(sp.event == "ev-test" for sp, _ in s.received) for s in f0),
                     20, "every f0 charger's setpoint")  # fmt: skip
        firsts = [min(at for sp, at in s.received if sp.event == "ev-test") for s in f0]
        latency = sorted(at - t0 for at in firsts)
        total = sum(next(sp.setpoint_w for sp, _ in s.received if sp.event == "ev-test") for s in f0)
        capacity = sum(s.max_discharge_w for s in f0)
        print(f"DR: {len(f0)} setpoints, latency max {latency[-1] * 1000:.0f} ms, "
              f"sum {total:.0f} W of {target:.0f} W (capacity {capacity:.0f} W)")
        assert abs(total - max(target, -capacity)) <= 0.01 * abs(target)
        assert not any(sp.event == "ev-test" for s in fleet.chargers if s.link.feeder == "f1"
                       for sp, _ in s.received)  # fmt: skip
        await _until(lambda: all((s.link.holder.target(time.time()) or 0) < 0 for s in f0), 5,
                     "f0 chargers discharging")  # fmt: skip

        # the broker dies (SIGKILL) for 2 s; the chargers keep recording
        broker.kill()
        await asyncio.sleep(2.0)
        assert fleet.pending() > 0  # records wait on disk
        broker.start()
        await _until(lambda: fleet.connected() == CHARGERS, 30, "every charger back")
        # a charger deletes a record only when the fog has acknowledged it: the queues
        # empty out only if the fog got everything (a restarted mosquitto 2.0 drops what
        # arrives before the fog's shared subscription is back: that is resent)
        mark = {s.link.charger: fleet.outbox.last_number(s.link.charger) for s in fleet.chargers}

        def backlog_acknowledged() -> bool:
            fleet.outbox.flush()
            for charger, last in mark.items():
                head = fleet.outbox.pending(charger, 1)
                if head and head[0][0] <= last:
                    return False
            return True

        try:
            await _until(backlog_acknowledged, 90, "the fog to acknowledge the backlog")
        except AssertionError:
            stuck = [(s.link.charger, fleet.outbox.pending(s.link.charger, 1)[0][0], mark[s.link.charger],
                      s.link.counts) for s in fleet.chargers
                     if fleet.outbox.pending(s.link.charger, 1)
                     and fleet.outbox.pending(s.link.charger, 1)[0][0] <= mark[s.link.charger]]
            raise AssertionError(f"{len(stuck)} chargers unacknowledged: {stuck[:3]}; fog: "
                                 f"{fog.counts} {fog.lines[-5:]}") from None
    finally:
        await stop(runner, "the simulated fleet")
    expected = sum(fleet.outbox.last_number(s.link.charger) for s in fleet.chargers)
    left = fleet.pending()
    resends = sum(s.link.counts.resends for s in fleet.chargers)
    # generous: on a loaded machine the fog process may be a while behind the broker
    await fog.wait_for(lambda f: f.counts.get("telemetry", 0) - f.counts.get("duplicates", 0)
                       >= expected - left, 90)  # fmt: skip
    c = fog.counts
    print(f"records: {expected} stored, {left} unacknowledged at the end, fog got "
          f"{c['telemetry']} ({c['duplicates']} duplicates, {c['holes']} holes); "
          f"{resends} resends")
    # what the chargers deleted, the fog had: unique records = stored - still queued
    assert c["telemetry"] - c["duplicates"] >= expected - left
