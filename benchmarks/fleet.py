"""The fleet tier under load: N simulated chargers, each its own MQTT-over-TLS session,
publishing telemetry every second through a real mosquitto to one `v2gate fog` process.

Printed: the fog's CPU % and RSS while it takes the telemetry; a DR event for the feeder
→ every charger's setpoint (p50/p99/max latency from the event's publication to the
charger's receipt, target p99 < 1 s) and the dispatch error (the setpoints' sum against
the requested aggregate, target < 1 %); then the broker SIGKILLed and restarted: records
stored, delivered, duplicated, missing (store-and-forward must make missing 0).

    python benchmarks/fleet.py              # 500 chargers, 30 s
    python benchmarks/fleet.py --quick      # 50 chargers, 6 s (CI keeps it working)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.fleet import topics  # noqa: E402
from host.fleet.simfleet import SimFleet  # noqa: E402
from host.fleet.topics import DrEvent  # noqa: E402
from tests.host.fleet.broker import FogProcess, Mosquitto  # noqa: E402
from tools.apt import ensure  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"fleet benchmark: timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def run(n: int, seconds: float, folder: Path, program: str) -> None:
    broker = Mosquitto(program, folder / "broker")
    broker.start()
    fog = FogProcess(broker, report=1.0)
    fleet = SimFleet(broker.broker(), folder, n, feeders=1, period=1.0)
    runner = None
    try:
        await fog.wait_for(lambda f: any("subscribed" in line for line in f.lines), 30)
        t0 = time.monotonic()
        runner = asyncio.create_task(fleet.run())
        await until(lambda: fleet.connected() == n, 120, "every charger connected")
        print(f"chargers: {n} connected over TLS in {time.monotonic() - t0:.1f} s")
        await fog.wait_for(lambda f: f.counts.get("chargers") == n, 60)

        cpu0, w0 = cpu_seconds(fog.pid()), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (cpu_seconds(fog.pid()) - cpu0) / (time.monotonic() - w0) * 100
        print(f"fog: {cpu:.1f} % of one core, RSS {rss_mb(fog.pid()):.1f} MB, "
              f"taking {n / fleet.period:.1f} telemetry records/s")

        target = -0.5 * sum(s.max_discharge_w for s in fleet.chargers)
        t_pub = time.time()
        async with broker.broker().client("derms", clean=True) as derms:
            await derms.publish(topics.dr_topic("f0"), DrEvent("bench", "f0", target, t_pub, 600.0).encode(),
                                qos=1)  # fmt: skip
        await until(lambda: all(any(sp.event == "bench" for sp, _ in s.received) for s in fleet.chargers),
                    60, "every charger's setpoint")  # fmt: skip
        lat = sorted(min(at for sp, at in s.received if sp.event == "bench") - t_pub
                     for s in fleet.chargers)  # fmt: skip
        total = sum(next(sp.setpoint_w for sp, _ in s.received if sp.event == "bench")
                    for s in fleet.chargers)  # fmt: skip
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"DR event -> {n} setpoints: p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms (target p99 < 1000 ms)")
        print(f"dispatch error: {abs(total - target) / abs(target) * 100:.4f} % "
              f"({total:.1f} W of {target:.1f} W asked; target < 1 %)")

        broker.kill()
        await asyncio.sleep(3.0)
        queued = fleet.pending()
        mark = {s.link.charger: fleet.outbox.last_number(s.link.charger) for s in fleet.chargers}
        broker.start()
        t_back = time.monotonic()

        def drained() -> bool:  # every record from before the restart acknowledged by the fog
            fleet.outbox.flush()
            return all(not (head := fleet.outbox.pending(c, 1)) or head[0][0] > last
                       for c, last in mark.items())  # fmt: skip

        await until(lambda: fleet.connected() == n and drained(), 180, "the backlog acknowledged")
        resends = sum(s.link.counts.resends for s in fleet.chargers)
        print(f"broker SIGKILLed for 3.0 s: {queued} records queued on disk, all acknowledged "
              f"by the fog {time.monotonic() - t_back:.1f} s after its restart ({resends} resends)")
        await asyncio.sleep(2.0)
    finally:
        if runner is not None:
            runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
    stored = sum(fleet.outbox.last_number(s.link.charger) for s in fleet.chargers)
    left = fleet.pending()
    await fog.wait_for(lambda f: f.counts.get("telemetry", 0) - f.counts.get("duplicates", 0)
                       >= stored - left, 60)  # fmt: skip
    c = fog.counts
    missing = stored - left - (c["telemetry"] - c["duplicates"])
    print(f"records: {stored} stored, {left} still queued at the end, fog got "
          f"{c['telemetry']} ({c['duplicates']} duplicates, {c['holes']} holes, {missing} missing)")
    fog.stop()
    broker.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 chargers, 6 s")
    ap.add_argument("--chargers", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=30.0, help="telemetry measured for this long")
    args = ap.parse_args()
    n, seconds = (50, 6.0) if args.quick else (args.chargers, args.seconds)
    program, why = ensure("mosquitto")
    if program is None:
        print(f"fleet benchmark skipped: {why}")
        return 0 if args.quick else 2
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(n, seconds, Path(folder), program))
    return 0


if __name__ == "__main__":
    sys.exit(main())
