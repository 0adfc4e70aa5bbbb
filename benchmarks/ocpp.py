"""OCPP figures: TransactionEvents with meter values per second and their round trip
(p50/p99) for 10 charging points on one event loop against the local CSMS process
(host/ocpp/csms.py), with this process's RSS; --full adds the outage run.

    python benchmarks/ocpp.py [--events 200] [--connectors 10] [--quick | --full]

Each charging point is a station machine with its own SQLite queue (fsync on commit) and
websocket; it records the next Updated event as soon as the last one is answered, so the
round trip counts the disk write, our machine, the CSMS (which fsyncs its log line before
answering) and back. Prints figures only; nothing passes or fails. --quick: 20 events per
point (CI keeps the script working). --full: 500 per point, then the outage run of
tests/host/ocpp/outage.py with 100 CSMS kills and 10 station kills (Node CSMS; needs node).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# sys.path[0] is benchmarks/, where this file would shadow the `ocpp` package
sys.path[0] = str(ROOT)

from host.ocpp.devmodel import Component, DeviceModel, Variable  # noqa: E402
from host.ocpp.driver import Settings, StationDriver  # noqa: E402
from host.ocpp.events import Event, TransactionEventDelivered  # noqa: E402
from host.ocpp.machine import Registration, StationConnection  # noqa: E402
from host.ocpp.messages import StationInfo  # noqa: E402
from host.ocpp.store import open_db  # noqa: E402
from host.ocpp.txqueue import MeterValue, SampledValue, TxQueue  # noqa: E402
from host.ocpp.variables import station_variables  # noqa: E402


def rss_mib(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def meter(n: int) -> list[MeterValue]:
    now = time.time()
    return [MeterValue(now, (SampledValue(100.0 * n, context="Sample.Periodic"),
                             SampledValue(7200.0, measurand="Power.Active.Import", unit="W"),
                             SampledValue(230.1, measurand="Voltage", unit="V", phase="L1-N")))]  # fmt: skip


class Point:
    """One charging point: machine, driver, and a closed loop of Updated events."""

    def __init__(self, folder: Path, n: int, port: int, events: int) -> None:
        db = open_db(folder / f"cp{n}.db")
        model = DeviceModel(db, station_variables())
        model.set_own(Component("OCPPCommCtrlr"), Variable("RetryBackOffWaitMinimum"), "1")
        self.st = StationConnection(queue=TxQueue(db), model=model,
                                    station=StationInfo("bench", "v2gate", serial_number=f"CP{n}"))  # fmt: skip
        self.driver = StationDriver(self.st, Settings(f"ws://127.0.0.1:{port}/ocpp", f"CP{n}"),
                                    on_event=self.on_event)  # fmt: skip
        self.events = events
        self.sent_at = 0.0
        self.rtts: list[float] = []
        self.done = asyncio.Event()
        self.tx = f"bench-{n}"

    def on_event(self, event: Event) -> None:
        if isinstance(event, TransactionEventDelivered):
            self.rtts.append(time.perf_counter() - self.sent_at)
            if len(self.rtts) < self.events:
                self.record()
            else:
                self.done.set()

    def record(self) -> None:
        self.sent_at = time.perf_counter()
        n = len(self.rtts)
        if n == 0:
            self.st.transaction_started(self.tx, now=time.time(), trigger_reason="Authorized",
                                        evse_id=1, meter_values=meter(0))  # fmt: skip
        else:
            self.st.transaction_updated(self.tx, now=time.time(), trigger_reason="MeterValuePeriodic",
                                        meter_values=meter(n))  # fmt: skip
        self.driver.kick()


async def throughput(connectors: int, events: int) -> tuple[list[float], float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        csms = subprocess.Popen([sys.executable, "-m", "host.ocpp.csms", "--port", "0",
                                 "--log", f"{tmp}/csms.jsonl"], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True)  # fmt: skip
        try:
            assert csms.stdout is not None
            port = int(csms.stdout.readline().split()[-1])
            points = [Point(Path(tmp), n, port, events) for n in range(connectors)]
            tasks = [asyncio.create_task(p.driver.run()) for p in points]
            while not all(p.st.registration is Registration.ACCEPTED for p in points):
                await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            for p in points:
                p.record()
            await asyncio.gather(*(p.done.wait() for p in points))
            elapsed = time.perf_counter() - t0
            ours, theirs = rss_mib(), rss_mib(csms.pid)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            csms.kill()
            csms.wait()
    return [r for p in points for r in p.rtts], elapsed, ours, theirs


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200, help="TransactionEvents per point")
    ap.add_argument("--connectors", type=int, default=10)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="20 events per point (CI)")
    mode.add_argument("--full", action="store_true",
                      help="500 events per point, then 100 CSMS and 10 station kills")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.events = 20
    if args.full:
        args.events = 500
    rtts, elapsed, ours, theirs = asyncio.run(throughput(args.connectors, args.events))
    total = len(rtts)
    print(f"{args.connectors} charging points on one event loop, {total} TransactionEvents "
          f"with 3 sampled values each, against host.ocpp.csms:")  # fmt: skip
    print(f"  {total / elapsed:8.1f} messages/s")
    print(f"  round trip p50 {statistics.median(rtts) * 1e3:7.2f} ms   p99 {pct(rtts, 0.99) * 1e3:7.2f} ms"
          f"   max {max(rtts) * 1e3:7.2f} ms")  # fmt: skip
    print(f"  RSS: this process ({args.connectors} points) {ours:6.1f} MiB, "
          f"CSMS process {theirs:6.1f} MiB")  # fmt: skip
    if args.full:
        from tests.host.ocpp import outage

        with tempfile.TemporaryDirectory() as tmp:
            result = outage.run(Path(tmp), transactions=100, csms_kills=100, station_kills=10,
                                seed=20261201)  # fmt: skip
        print(f"outage run: {result.summary()}")
        outage.check(result, 100)
        print("  every (transactionId, seqNo) present, in order, no gaps")


if __name__ == "__main__":
    main()
