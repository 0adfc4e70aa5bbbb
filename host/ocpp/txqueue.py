"""The transaction queue that never loses data: TransactionEventRequests on disk, in order.

Every event is written (and fsynced, see ``store``) in the same SQLite transaction that
allocates its seqNo, before anything may offer it for sending; it is marked sent only when
the CSMS's CALLRESULT arrives (``acknowledge``). Events recorded while the station is offline
carry ``offline: true`` (TransactionEventRequest.offline: "recorded while the station was
offline") and are replayed oldest first. A process killed at any point leaves either the whole event or none
of it, and ``open_transactions`` lets a restarted station continue each transaction's seqNo
where it stopped.

seqNo is per transaction: 0 for Started, +1 for every later event of that transaction
(OCPP 2.0.1 Part 2 E01 / TransactionEventRequest.seqNo).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .store import iso_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS tx (
    tx_id TEXT PRIMARY KEY,
    evse_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    next_seq INTEGER NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx_id TEXT,
    seq_no INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, row);
"""

PENDING, SENT, GIVEN_UP = 0, 1, 2  # outbox.state


class TxQueueError(Exception):
    """The caller misused the queue (an event for an unknown or ended transaction)."""


@dataclass(frozen=True)
class SampledValue:
    """OCPP 2.0.1 SampledValueType (the fields this station fills)."""

    value: float
    measurand: str = "Energy.Active.Import.Register"
    context: str | None = None  # Transaction.Begin / Sample.Periodic / Transaction.End ...
    phase: str | None = None
    unit: str | None = None  # unitOfMeasure.unit; the schema's default is Wh

    def to_json(self) -> dict:
        out: dict = {"value": self.value, "measurand": self.measurand}
        if self.context is not None:
            out["context"] = self.context
        if self.phase is not None:
            out["phase"] = self.phase
        if self.unit is not None:
            out["unitOfMeasure"] = {"unit": self.unit}
        return out


@dataclass(frozen=True)
class MeterValue:
    timestamp: float
    sampled: tuple[SampledValue, ...]

    def to_json(self) -> dict:
        return {
            "timestamp": iso_time(self.timestamp),
            "sampledValue": [s.to_json() for s in self.sampled],
        }


@dataclass(frozen=True)
class QueuedMessage:
    row: int
    msg_id: str
    action: str
    payload: dict = field(hash=False)
    tx_id: str | None
    seq_no: int | None
    attempts: int


@dataclass(frozen=True)
class OpenTransaction:
    tx_id: str
    evse_id: int
    connector_id: int
    next_seq: int


def _new_msg_id() -> str:
    return str(uuid.uuid4())


class TxQueue:
    """Records TransactionEvents durably and hands them out oldest first."""

    def __init__(self, db: sqlite3.Connection, *,
                 new_msg_id: Callable[[], str] = _new_msg_id) -> None:  # fmt: skip
        self.db = db
        self.new_msg_id = new_msg_id
        with db:
            db.executescript(SCHEMA)

    # --- recording ---------------------------------------------------------------------

    def started(self, tx_id: str, *, now: float, trigger_reason: str, evse_id: int,
                connector_id: int = 1, offline: bool = False,
                meter_values: Iterable[MeterValue] = (), id_token: dict | None = None,
                charging_state: str | None = None,
                remote_start_id: int | None = None) -> QueuedMessage:  # fmt: skip
        with self.db:
            known = self.db.execute("SELECT 1 FROM tx WHERE tx_id = ?", (tx_id,)).fetchone()
            if known:
                raise TxQueueError(f"transaction {tx_id!r} already started")
            self.db.execute(
                "INSERT INTO tx (tx_id, evse_id, connector_id, next_seq) VALUES (?, ?, ?, 0)",
                (tx_id, evse_id, connector_id),
            )
            extra: dict = {"evse": {"id": evse_id, "connectorId": connector_id}}
            if id_token is not None:
                extra["idToken"] = id_token
            return self._append(tx_id, "Started", now, trigger_reason, offline,
                                meter_values, charging_state, None, extra, remote_start_id)  # fmt: skip

    def updated(self, tx_id: str, *, now: float, trigger_reason: str, offline: bool = False,
                meter_values: Iterable[MeterValue] = (),
                charging_state: str | None = None) -> QueuedMessage:  # fmt: skip
        with self.db:
            return self._append(tx_id, "Updated", now, trigger_reason, offline,
                                meter_values, charging_state, None, {})  # fmt: skip

    def ended(self, tx_id: str, *, now: float, trigger_reason: str, stopped_reason: str,
              offline: bool = False, meter_values: Iterable[MeterValue] = (),
              charging_state: str | None = None) -> QueuedMessage:  # fmt: skip
        with self.db:
            msg = self._append(tx_id, "Ended", now, trigger_reason, offline,
                               meter_values, charging_state, stopped_reason, {})  # fmt: skip
            self.db.execute("UPDATE tx SET ended = 1 WHERE tx_id = ?", (tx_id,))
            return msg

    def _append(self, tx_id: str, event_type: str, now: float, trigger_reason: str,
                offline: bool, meter_values: Iterable[MeterValue], charging_state: str | None,
                stopped_reason: str | None, extra: dict,
                remote_start_id: int | None = None) -> QueuedMessage:  # fmt: skip
        # called inside the caller's ``with self.db`` so seqNo and event commit together
        row = self.db.execute(
            "SELECT next_seq, ended FROM tx WHERE tx_id = ?", (tx_id,)
        ).fetchone()
        if row is None:
            raise TxQueueError(f"no transaction {tx_id!r}")
        seq_no, ended = row
        if ended:
            raise TxQueueError(f"transaction {tx_id!r} has ended")
        info: dict = {"transactionId": tx_id}
        if charging_state is not None:
            info["chargingState"] = charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        if remote_start_id is not None:  # F01: ties the transaction to RequestStartTransaction
            info["remoteStartId"] = remote_start_id
        payload: dict = {
            "eventType": event_type,
            "timestamp": iso_time(now),
            "triggerReason": trigger_reason,
            "seqNo": seq_no,
            "transactionInfo": info,
        }
        if offline:
            payload["offline"] = True
        values = [m.to_json() for m in meter_values]
        if values:
            payload["meterValue"] = values
        payload.update(extra)
        msg_id = self.new_msg_id()
        cur = self.db.execute(
            "INSERT INTO outbox (msg_id, action, payload, tx_id, seq_no) VALUES (?, ?, ?, ?, ?)",
            (msg_id, "TransactionEvent", json.dumps(payload, separators=(",", ":")), tx_id,
             seq_no),
        )  # fmt: skip
        self.db.execute("UPDATE tx SET next_seq = ? WHERE tx_id = ?", (seq_no + 1, tx_id))
        assert cur.lastrowid is not None
        return QueuedMessage(cur.lastrowid, msg_id, "TransactionEvent", payload, tx_id, seq_no, 0)

    def enqueue(self, action: str, payload: dict) -> QueuedMessage:
        """Another message that must not be lost (SecurityEventNotification, NotifyEvent): on disk now,
        sent in recording order among the TransactionEvents, acknowledged the same way."""
        msg_id = self.new_msg_id()
        with self.db:
            cur = self.db.execute("INSERT INTO outbox (msg_id, action, payload) VALUES (?, ?, ?)",
                                  (msg_id, action, json.dumps(payload, separators=(",", ":"))))  # fmt: skip
        assert cur.lastrowid is not None
        return QueuedMessage(cur.lastrowid, msg_id, action, payload, None, None, 0)

    # --- sending -----------------------------------------------------------------------

    def head(self) -> QueuedMessage | None:
        """The oldest message not yet acknowledged (nor given up)."""
        row = self.db.execute(
            "SELECT row, msg_id, action, payload, tx_id, seq_no, attempts FROM outbox"
            " WHERE state = ? ORDER BY row LIMIT 1",
            (PENDING,),
        ).fetchone()
        if row is None:
            return None
        return QueuedMessage(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])

    def acknowledge(self, row: int) -> None:
        """The CSMS answered with a CALLRESULT: the event is delivered."""
        with self.db:
            self.db.execute("UPDATE outbox SET state = ? WHERE row = ?", (SENT, row))

    def attempt_failed(self, row: int) -> int:
        """A CALLERROR or a timeout while connected; returns the attempts so far."""
        with self.db:
            self.db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE row = ?", (row,))
            got = self.db.execute("SELECT attempts FROM outbox WHERE row = ?", (row,)).fetchone()
        return int(got[0]) if got else 0

    def give_up(self, row: int) -> None:
        """MessageAttemptsTransactionEvent exhausted: kept on disk, no longer sent
        (OCPP 2.0.1 E13: the station discards it; we keep it for the record)."""
        with self.db:
            self.db.execute("UPDATE outbox SET state = ? WHERE row = ?", (GIVEN_UP, row))

    # --- inspection --------------------------------------------------------------------

    def pending_count(self) -> int:
        got = self.db.execute("SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,))
        return int(got.fetchone()[0])

    def open_transactions(self) -> list[OpenTransaction]:
        rows = self.db.execute(
            "SELECT tx_id, evse_id, connector_id, next_seq FROM tx WHERE ended = 0 ORDER BY rowid"
        ).fetchall()
        return [OpenTransaction(*r) for r in rows]

    def started_payload(self, tx_id: str) -> dict | None:
        """The transaction's Started event as recorded (who authorized it, on which EVSE)."""
        row = self.db.execute("SELECT payload FROM outbox WHERE tx_id = ? AND seq_no = 0",
                              (tx_id,)).fetchone()  # fmt: skip
        return json.loads(row[0]) if row else None

    def events(self) -> list[tuple[str, int, int]]:
        """(transactionId, seqNo, state) of every recorded event, in recording order."""
        rows = self.db.execute(
            "SELECT tx_id, seq_no, state FROM outbox WHERE tx_id IS NOT NULL ORDER BY row"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def messages(self, action: str) -> list[tuple[dict, int]]:
        """(payload, state) of every recorded ``action`` message, in recording order."""
        rows = self.db.execute("SELECT payload, state FROM outbox WHERE action = ? ORDER BY row",
                               (action,)).fetchall()  # fmt: skip
        return [(json.loads(r[0]), r[1]) for r in rows]
