"""Outage test against the CSMS process: transactions with meter values while the CSMS
and the station are SIGKILLed and restarted at seeded random moments. The CSMS log (each
frame fsynced before it is answered) must hold every (transactionId, seqNo), without gaps
and in order; duplicates are allowed and counted."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_system import ROOT, start_csms, stop

pytestmark = pytest.mark.system
TRANSACTIONS = 8
UPDATES = 5


def start_station(db: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.host.ocpp.stationproc", str(db),
         f"ws://127.0.0.1:{port}/ocpp", str(TRANSACTIONS)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_csms_and_station_killed_at_random(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    log, db = tmp_path / "csms.jsonl", tmp_path / "station.db"
    csms, port = start_csms(log)
    station = start_station(db, port)
    plan = ["csms"] * 3 + ["station"] * 2
    rng.shuffle(plan)
    try:
        for victim in plan:
            time.sleep(rng.uniform(0.3, 1.2))  # when to strike, not a measurement
            if victim == "csms":
                stop(csms)
                csms, _ = start_csms(log, port)
            else:
                stop(station)
                station = start_station(db, port)
        out, _ = station.communicate(timeout=180)
        assert out.splitlines()[-1:] == ["done"]
    finally:
        stop(station)
        stop(csms)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    frames = [json.loads(r["frame"]) for r in lines if "frame" in r]
    events = [f[3] for f in frames if f[0] == 2 and f[2] == "TransactionEvent"]
    first_seen: list[tuple[str, int]] = []
    for e in events:
        key = (e["transactionInfo"]["transactionId"], e["seqNo"])
        if key not in first_seen:
            first_seen.append(key)
    per_tx: dict[str, list[int]] = {}
    for tx, seq in first_seen:
        per_tx.setdefault(tx, []).append(seq)
    assert sorted(per_tx) == [f"tx{n:03d}" for n in range(TRANSACTIONS)]
    for tx, seqs in per_tx.items():
        assert seqs == list(range(UPDATES + 2)), (tx, seqs)  # in order, no gaps, Ended last
    offline = sum(1 for e in events if e.get("offline"))
    print(f"kills: {plan}; TransactionEvents received: {len(events)}, "
          f"duplicates: {len(events) - len(first_seen)}, offline-flagged: {offline}")
