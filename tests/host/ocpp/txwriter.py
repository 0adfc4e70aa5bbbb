"""A station that only records TransactionEvents, for the SIGKILL test.

``python -m tests.host.ocpp.txwriter DB TRANSACTIONS SEED`` continues any open transaction
from the database, then starts new ones until TRANSACTIONS exist; each has 1-6 Updated
events with meter values and an Ended. It acknowledges the queue's head now and then (as a
CSMS answer would) and prints ``tx seq`` after each commit, flushed, so the test knows what
was committed before the kill. Prints ``done`` at the end.
"""

from __future__ import annotations

import random
import sys

from host.ocpp.store import open_db
from host.ocpp.txqueue import MeterValue, SampledValue, TxQueue


def main() -> None:
    path, total, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    q = TxQueue(open_db(path))
    rng = random.Random(seed)
    now = 1_800_000_000.0

    def say(tx: str, seq: int) -> None:
        print(tx, seq, flush=True)
        if rng.random() < 0.3:
            head = q.head()
            if head is not None:
                q.acknowledge(head.row)

    def finish(tx: str, seq: int) -> None:
        nonlocal now
        for _ in range(rng.randint(0, 6 - min(seq, 6))):
            now += 1
            mv = MeterValue(now, (SampledValue(now, context="Sample.Periodic"),))
            msg = q.updated(tx, now=now, trigger_reason="MeterValuePeriodic", meter_values=[mv])
            say(tx, msg.seq_no or 0)
        msg = q.ended(tx, now=now, trigger_reason="StopAuthorized", stopped_reason="Local")
        say(tx, msg.seq_no or 0)

    for open_tx in q.open_transactions():
        finish(open_tx.tx_id, open_tx.next_seq)
    started = q.db.execute("SELECT COUNT(*) FROM tx").fetchone()[0]
    for n in range(started, total):
        tx = f"tx{n:03d}"
        msg = q.started(tx, now=now, trigger_reason="Authorized", evse_id=1 + n % 2)
        say(tx, msg.seq_no or 0)
        finish(tx, 1)
    print("done", flush=True)


if __name__ == "__main__":
    main()
