"""The outage run shared by tests/host/ocpp/test_outage.py and benchmarks/ocpp.py: a
station process (stationproc.py) records transactions with meter values while the
independent Node CSMS (tools/peers/ocpp_csms.js, which fsyncs every frame it receives
before answering) and the station are SIGKILLed and restarted at seeded random moments.

Afterwards the CSMS's log must hold every (transactionId, seqNo) the station recorded,
without gaps and in order; duplicates (a resend whose answer the kill ate) are allowed and
counted.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UPDATES = 5  # stationproc.UPDATES: Started, 5 Updated, Ended per transaction


@dataclass
class Outcome:
    kills: list[str]
    received: int  # TransactionEvents in the CSMS log, resends included
    unique: int
    offline: int  # of the unique ones, recorded while no CSMS was reachable
    mid_transaction: int  # station kills that left a transaction open
    per_tx: dict[str, list[int]]  # seqNos in the order the CSMS first saw them
    failures: list[str]  # schema violations or unexpected actions the CSMS reported
    seconds: float

    def summary(self) -> str:
        return (f"{self.kills.count('csms')} CSMS kills, {self.kills.count('station')} station "
                f"kills ({self.mid_transaction} mid-transaction): {len(self.per_tx)} transactions, "
                f"{self.received} TransactionEvents received, {self.unique} distinct, "
                f"{self.received - self.unique} duplicates, {self.offline} offline-flagged, "
                f"{self.seconds:.1f} s")  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _start_csms(tmp: Path, n: int, port: int, protocol: str) -> tuple[subprocess.Popen, int]:
    from tools.peers.ocpp_rpc import csms_command

    argv, env = csms_command(protocol, port, heartbeat=30, log=tmp / "csms.jsonl", mode="outage")
    out = tmp / f"csms-{n}.out"
    with open(out, "w") as f:
        proc = subprocess.Popen(argv, env=env, stdout=f, cwd=ROOT)
    deadline = time.monotonic() + 60  # a hang guard, not a measurement
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines()
        if lines:
            return proc, json.loads(lines[0])["listening"]
        if proc.poll() is not None:
            raise RuntimeError(f"the Node CSMS exited with {proc.returncode}")
        time.sleep(0.02)
    _stop(proc)
    raise RuntimeError("the Node CSMS did not listen within 60 s")


def _start_station(db: Path, port: int, transactions: int, step: float) -> subprocess.Popen:
    # its log (a line per failed reconnect) goes beside the database, not to our stderr
    with open(db.with_name("station.log"), "a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.host.ocpp.stationproc", str(db),
             f"ws://127.0.0.1:{port}/ocpp", str(transactions), str(step)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip


def _open_transactions(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM tx WHERE ended = 0").fetchone()[0]


def run(tmp: Path, *, transactions: int, csms_kills: int, station_kills: int, seed: int,
        step: float = 0.15, gap: tuple[float, float] = (0.2, 0.8),
        protocol: str = "ocpp2.0.1") -> Outcome:  # fmt: skip
    """Kills come ``gap`` seconds apart (seeded); the station records an event every
    ``step`` seconds, so the run outlasts the kills and station kills land mid-transaction."""
    rng = random.Random(seed)
    t0 = time.monotonic()
    db = tmp / "station.db"
    starts = 0
    csms, port = _start_csms(tmp, starts, 0, protocol)
    station = _start_station(db, port, transactions, step)
    plan = ["csms"] * csms_kills + ["station"] * station_kills
    rng.shuffle(plan)
    mid = 0
    try:
        for victim in plan:
            time.sleep(rng.uniform(*gap))  # when to strike, not a measurement
            if victim == "csms":
                _stop(csms)
                starts += 1
                csms, _ = _start_csms(tmp, starts, port, protocol)
            else:
                # strike mid-transaction: between an Ended and the next Started there is
                # none open, so wait (briefly) for one
                until = time.monotonic() + 5
                while _open_transactions(db) == 0 and time.monotonic() < until:
                    time.sleep(0.01)
                _stop(station)
                mid += _open_transactions(db) > 0
                station = _start_station(db, port, transactions, step)
        out, _ = station.communicate(timeout=60 + transactions * (UPDATES + 2) * step * 4)
        if out.splitlines()[-1:] != ["done"]:
            raise AssertionError(f"the station did not finish: {out[-500:]!r}")
    finally:
        _stop(station)
        _stop(csms)
    records = [json.loads(line) for line in (tmp / "csms.jsonl").read_text().splitlines()]
    frames = [json.loads(r["frame"]) for r in records]
    events = [f[3] for f in frames if f[0] == 2 and f[2] == "TransactionEvent"]
    seen: set[tuple[str, int]] = set()
    per_tx: dict[str, list[int]] = {}
    offline = 0
    for e in events:
        key = (e["transactionInfo"]["transactionId"], e["seqNo"])
        if key not in seen:
            seen.add(key)
            per_tx.setdefault(key[0], []).append(key[1])
            offline += bool(e.get("offline"))
    failures = []
    for n in range(starts + 1):
        for line in (tmp / f"csms-{n}.out").read_text().splitlines():
            if '"failure"' in line:
                failures.append(line)
    return Outcome(plan, len(events), len(seen), offline, mid, per_tx, failures,
                   time.monotonic() - t0)  # fmt: skip


def check(outcome: Outcome, transactions: int) -> None:
    """Every transaction, every seqNo from 0 to Ended, first seen in order, no gaps."""
    assert sorted(outcome.per_tx) == [f"tx{n:03d}" for n in range(transactions)], outcome.per_tx
    for tx, seqs in outcome.per_tx.items():
        assert seqs == list(range(UPDATES + 2)), (tx, seqs)
    assert outcome.failures == []
