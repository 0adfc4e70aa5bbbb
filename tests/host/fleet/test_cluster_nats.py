"""The fleet tier on a clustered broker: three `nats-server` nodes (Debian's package) with
JetStream and the MQTT listener over TLS, each node in its own network namespace, two
`v2gate fog` processes and 40 simulated chargers, each its own MQTT session.

A broker node is killed (SIGKILL), and separately a fog process: the chargers and fogs
on the dead node reconnect to a surviving one (host.fleet.mqtt.Broker rotates through
the nodes), every charger receives the DR setpoint sent after each kill, and the
surviving fog has seen every telemetry record of every charger, in order, none missing
(gaps == 0). The node-kill test found that a fog's dispatch session never noticed its
node's death (host/fleet/fog.py, now fixed): every setpoint after it was lost.

NATS 2.9 has no MQTT shared subscriptions (see host/fleet/README.md, "Clustered
broker"), so the two fogs run hot standby (`--no-share`): both hear every charger and
both dispatch; a charger keeps the newest setpoint. Three nodes, because JetStream's RAFT
groups (where the MQTT sessions and QoS 1 messages live) need a majority to go on.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest

from host.bench.veth import why_no_veth
from host.fleet import topics
from host.fleet.simfleet import SimFleet
from host.fleet.topics import DrEvent
from tests.apt import require
from tests.host.fleet.hang import stop, within
from tests.host.fleet.natscluster import ClusterFog, NatsCluster

# the fleet tests and benchmark (40-50 MQTT-over-TLS sessions each, the suite's heaviest
# load) run one at a time under pytest-xdist (tests/conftest.py holds a lock per group)
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("fleet")]

CHARGERS = 40


async def _until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout:.0f} s) waiting for {what}")
        await asyncio.sleep(0.1)


async def _publish(cluster: NatsCluster, name: str, topic: str, payload: bytes,
                   timeout: float = 40.0) -> None:  # fmt: skip
    """Publish at QoS 1 through whichever node answers (the client rotates on failure)."""
    broker = cluster.broker()
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with broker.client(name, clean=True) as client:
                await client.publish(topic, payload, qos=1, timeout=10)
                return
        except aiomqtt.MqttError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"no node took {topic}: {exc}") from exc
            await asyncio.sleep(0.5)


def test_cluster_node_kill_then_fog_kill_loses_nothing(tmp_path: Path) -> None:
    """Node 0 holds both fogs' dispatch sessions (their client ids hash there), so this
    also checks that a fog moves its setpoint session to a live node; a fog is killed
    after the node, so the fog kill alone needs no run of its own in CI (saves ~20 s):
    `_run(tmp_path, kill_node=False)` is that run, kept for a bench."""
    _run(tmp_path, kill_node=True)


def _run(tmp_path: Path, kill_node: bool) -> None:
    why = why_no_veth()
    if why:
        print(why)
        pytest.skip(why)
    cluster = NatsCluster(require("nats-server"), tmp_path / "nats")
    fogs: list[ClusterFog] = []
    cluster.create()
    try:
        cluster.start_all()
        # under pytest-timeout's 300 s, so a hang says where (tests/host/fleet/hang.py)
        asyncio.run(within(_scenario(cluster, fogs, tmp_path, kill_node), 240,
                           "the cluster scenario"))
    except BaseException:
        for i in range(cluster.count):
            print(f"--- node {i} log tail ---\n{cluster.log(i)[-1500:]}")
        for fog in fogs:
            print(f"--- {fog.fog_id}: {fog.counts} ---\n" + "\n".join(fog.lines[-40:]))
        raise
    finally:
        for fog in fogs:
            fog.stop()
        cluster.destroy()


async def _scenario(cluster: NatsCluster, fogs: list[ClusterFog], tmp_path: Path,
                    kill_node: bool) -> None:  # fmt: skip
    t0 = time.monotonic()
    # JetStream elects its leaders and MQTT makes its streams before a session can open
    await _publish(cluster, "probe", "v2g/probe", b"up", timeout=60)
    fogs += [ClusterFog(cluster, "fogA", first=0), ClusterFog(cluster, "fogB", first=1)]
    for fog in fogs:
        await fog.wait_for(lambda f: any("subscribed" in line for line in f.lines), 40)
    fleet = SimFleet(cluster.broker(), tmp_path, CHARGERS, feeders=2, period=1.0)
    runner = asyncio.create_task(fleet.run())

    async def dr_reaches_everyone(name: str) -> None:
        ids = {}
        for feeder in ("f0", "f1"):
            event = DrEvent(f"{name}-{feeder}", feeder, -30_000.0, time.time(), 300.0)
            ids[feeder] = event.id
            await _publish(cluster, f"derms-{event.id}", topics.dr_topic(feeder), event.encode())

        def everyone() -> bool:
            return all(any(sp.event == ids[s.link.feeder] for sp, _ in s.received)
                       for s in fleet.chargers)  # fmt: skip

        try:
            await _until(everyone, 40, f"every charger's setpoint of DR event {name}")
        except AssertionError:
            for s in fleet.chargers:
                if not any(sp.event == ids[s.link.feeder] for sp, _ in s.received):
                    print(f"{s.link.charger} ({s.link.feeder}) missed {ids[s.link.feeder]}: "
                          f"connected {s.link.connected.is_set()}, {s.link.counts}, "
                          f"got {[sp.event for sp, _ in s.received][-4:]}")  # fmt: skip
            raise

    try:
        await _until(lambda: fleet.connected() == CHARGERS, 40, "every charger connected")
        for fog in fogs:
            await fog.wait_for(lambda f: f.counts.get("chargers") == CHARGERS, 40)
        await dr_reaches_everyone("before")

        connects = sum(s.link.counts.connects for s in fleet.chargers)
        if kill_node:
            # one broker node dies: its chargers and fog sessions move to the other two
            cluster.kill(0)
            await _until(lambda: sum(s.link.counts.connects for s in fleet.chargers) > connects
                         and fleet.connected() == CHARGERS, 40, "every charger on a live node")  # fmt: skip
            await dr_reaches_everyone("after-node-kill")
        moved = sum(s.link.counts.connects for s in fleet.chargers) - connects

        # one fog process dies: the other one dispatches every charger
        fogs[0].kill()
        await dr_reaches_everyone("after-fog-kill")
        await asyncio.sleep(3.0)  # telemetry keeps flowing to the survivor
    finally:
        await stop(runner, "the simulated fleet")
    expected = sum(fleet.outbox.last_number(s.link.charger) for s in fleet.chargers)
    left = fleet.pending()
    survivor = fogs[1]
    await survivor.wait_for(lambda f: f.counts.get("telemetry", 0) - f.counts.get("duplicates", 0)
                            >= expected - left, 40)  # fmt: skip
    c = survivor.counts
    print(f"{CHARGERS} chargers, {moved} reconnects; records: {expected} "
          f"stored, {left} still queued; fogB saw {c['telemetry']} ({c['duplicates']} "
          f"duplicates, {c['holes']} holes); {time.monotonic() - t0:.1f} s")  # fmt: skip
    if kill_node:
        assert moved > 0  # some chargers were on the dead node and moved
    assert c["holes"] == 0
    # a charger deletes a record only once a fog acknowledged it: those still queued at the
    # end may have arrived too (their acknowledgement was on its way)
    assert c["telemetry"] - c["duplicates"] >= expected - left
    assert c["chargers"] == CHARGERS
