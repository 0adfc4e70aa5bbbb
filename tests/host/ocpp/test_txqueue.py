"""The on-disk transaction queue: seqNo, order, offline flag, acknowledgement, restarts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ocpp.messages import get_validator

from host.ocpp.store import iso_time, open_db
from host.ocpp.txqueue import SENT, MeterValue, SampledValue, TxQueue, TxQueueError

T0 = 1_800_000_000.0
ROOT = Path(__file__).resolve().parents[3]


def validate(payload: dict) -> None:
    get_validator(2, "TransactionEvent", "2.0.1").validate(payload)
    get_validator(2, "TransactionEvent", "2.1").validate(payload)


def make(tmp_path: Path) -> TxQueue:
    return TxQueue(open_db(tmp_path / "station.db"))


def test_pragmas_make_every_commit_durable(tmp_path: Path) -> None:
    db = open_db(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_iso_time() -> None:
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1.9996) == "1970-01-01T00:00:02.000Z"


def test_a_transaction_gets_seq_numbers_and_valid_payloads(tmp_path: Path) -> None:
    q = make(tmp_path)
    mv = MeterValue(T0, (SampledValue(1234.5, context="Transaction.Begin"),))
    a = q.started("t1", now=T0, trigger_reason="Authorized", evse_id=1,
                  meter_values=[mv], id_token={"idToken": "ABC", "type": "ISO14443"})  # fmt: skip
    b = q.updated("t1", now=T0 + 10, trigger_reason="MeterValuePeriodic",
                  meter_values=[MeterValue(T0 + 10, (SampledValue(2000, unit="Wh"),))])  # fmt: skip
    c = q.ended("t1", now=T0 + 20, trigger_reason="EVCommunicationLost", stopped_reason="EVDisconnected")
    assert [m.seq_no for m in (a, b, c)] == [0, 1, 2]
    assert [m.payload["eventType"] for m in (a, b, c)] == ["Started", "Updated", "Ended"]
    assert c.payload["transactionInfo"] == {"transactionId": "t1", "stoppedReason": "EVDisconnected"}
    assert a.payload["evse"] == {"id": 1, "connectorId": 1}
    assert a.payload["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    for m in (a, b, c):
        validate(m.payload)
        assert "offline" not in m.payload
    assert len({a.msg_id, b.msg_id, c.msg_id}) == 3


def test_seq_numbers_are_per_transaction_and_order_is_global(tmp_path: Path) -> None:
    q = make(tmp_path)
    q.started("a", now=T0, trigger_reason="Authorized", evse_id=1)
    q.started("b", now=T0, trigger_reason="Authorized", evse_id=2)
    q.updated("a", now=T0, trigger_reason="MeterValuePeriodic")
    q.updated("b", now=T0, trigger_reason="MeterValuePeriodic")
    q.ended("a", now=T0, trigger_reason="StopAuthorized", stopped_reason="Local")
    assert [(t, s) for t, s, _ in q.events()] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]


def test_head_moves_only_on_acknowledge_and_survives_reopen(tmp_path: Path) -> None:
    q = make(tmp_path)
    first = q.started("t", now=T0, trigger_reason="Authorized", evse_id=1, offline=True)
    q.updated("t", now=T0 + 1, trigger_reason="MeterValuePeriodic", offline=True)
    assert first.payload["offline"] is True
    head = q.head()
    assert head is not None and head.row == first.row and head.payload == first.payload
    assert q.attempt_failed(first.row) == 1
    assert q.head() == first.__class__(**{**first.__dict__, "attempts": 1})
    q.acknowledge(first.row)
    q.db.close()
    again = make(tmp_path)
    head = again.head()
    assert head is not None and head.seq_no == 1 and head.payload["offline"] is True
    assert again.pending_count() == 1
    assert again.open_transactions()[0].next_seq == 2
    assert again.events()[0][2] == SENT


def test_give_up_skips_but_keeps(tmp_path: Path) -> None:
    q = make(tmp_path)
    a = q.started("t", now=T0, trigger_reason="Authorized", evse_id=1)
    q.give_up(a.row)
    assert q.head() is None and len(q.events()) == 1


def test_misuse_is_refused_without_writing(tmp_path: Path) -> None:
    q = make(tmp_path)
    with pytest.raises(TxQueueError):
        q.updated("nope", now=T0, trigger_reason="MeterValuePeriodic")
    q.started("t", now=T0, trigger_reason="Authorized", evse_id=1)
    with pytest.raises(TxQueueError):
        q.started("t", now=T0, trigger_reason="Authorized", evse_id=1)
    q.ended("t", now=T0, trigger_reason="StopAuthorized", stopped_reason="Local")
    with pytest.raises(TxQueueError):
        q.updated("t", now=T0, trigger_reason="MeterValuePeriodic")
    assert [(t, s) for t, s, _ in q.events()] == [("t", 0), ("t", 1)]
    assert q.open_transactions() == []


def _run_writer(db: Path, total: int, seed: int, kill_at: int | None) -> tuple[list[str], bool]:
    """Runs the writer; with ``kill_at``, SIGKILLs it once it has reported that many commits
    (it keeps writing between our read and the kill, so the cut lands anywhere)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.host.ocpp.txwriter", str(db), str(total), str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while kill_at is not None and len(lines) < kill_at:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
    if kill_at is not None:
        os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    lines += out.splitlines()
    return lines, bool(lines) and lines[-1] == "done"


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path) -> None:
    """A writer process is SIGKILLed at random moments and restarted until it finishes;
    every event it reported as committed is on disk, and each transaction's seqNos are
    0..n without gaps, in recording order, ending with Ended."""
    db = tmp_path / "station.db"
    rng = random.Random(1313)
    committed: list[tuple[str, int]] = []
    kills = 0
    for run in range(40):
        kill_at = rng.randint(1, 30) if kills < 16 else None
        lines, done = _run_writer(db, 60, run, kill_at)
        committed += [(a, int(b)) for a, b in (ln.split() for ln in lines if ln != "done")]
        if done:
            break
        kills += 1
    assert done
    q = TxQueue(open_db(db))
    events = q.events()
    on_disk = [(t, s) for t, s, _ in events]
    assert set(committed) <= set(on_disk)
    assert len(on_disk) == len(set(on_disk))  # the queue itself never duplicates
    per_tx: dict[str, list[int]] = {}
    for t, s in on_disk:
        per_tx.setdefault(t, []).append(s)
    assert len(per_tx) == 60
    for seqs in per_tx.values():
        assert seqs == list(range(len(seqs)))
    assert q.open_transactions() == []
    ends = q.db.execute(
        "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%\"eventType\":\"Ended\"%'"
    ).fetchone()[0]
    assert ends == 60
    print(f"SIGKILLs: {kills}, events: {len(on_disk)}, reported committed: {len(committed)}")


def test_a_failed_write_leaves_nothing_half_done(tmp_path: Path) -> None:
    """The transaction row, the seqNo and the event commit together or not at all."""
    import sqlite3

    q = TxQueue(open_db(tmp_path / "station.db"), new_msg_id=lambda: "same-id")
    q.started("a", now=T0, trigger_reason="Authorized", evse_id=1)
    with pytest.raises(sqlite3.IntegrityError):  # the MessageId repeats: the INSERT fails
        q.started("b", now=T0, trigger_reason="Authorized", evse_id=1)
    with pytest.raises(sqlite3.IntegrityError):
        q.updated("a", now=T0, trigger_reason="MeterValuePeriodic")
    assert [t.tx_id for t in q.open_transactions()] == ["a"]
    assert q.open_transactions()[0].next_seq == 1
    assert [(t, s) for t, s, _ in q.events()] == [("a", 0)]
