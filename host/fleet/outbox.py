"""Store-and-forward: telemetry is on disk before it is offered to the broker.

A record is numbered when it is stored (per owner, from 1, never reused even after it
is sent, because SQLite's AUTOINCREMENT keeps the highest number ever given) and deleted
only when the broker has acknowledged it (MQTT PUBACK). While the broker is unreachable
records pile up here; on reconnect they go out oldest first. So a receiver sees every
number, in order, possibly twice (a PUBACK lost in a broker crash): at least once.

The queue is bounded (`limit` records per owner): beyond it the oldest are dropped and
counted in `dropped`, because a charger cut off for weeks must not fill its disk; at one
record a second the default holds a week.

One database can hold several owners, so a fleet simulator's chargers share a file; a
real charger has one owner. A simulator of hundreds of chargers stores their records in
one transaction (`put_many`) and deletes acknowledged ones in batches (`ack_upto` then
`flush`): a crash between the two resends those records, which at-least-once allows. `durable=False` trades the fsync per record for speed
(a process crash still loses nothing; a power cut may lose the last records).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from host.ocpp.store import open_db

DEFAULT_LIMIT = 7 * 86400


class Outbox:
    def __init__(self, path: str | Path, *, durable: bool = True, limit: int = DEFAULT_LIMIT) -> None:
        self.db = open_db(path)
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.limit = limit
        self._acked: dict[str, int] = {}  # acknowledged but not yet deleted (ack_upto)
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " owner TEXT NOT NULL, number INTEGER NOT NULL, topic TEXT NOT NULL,"
                " payload BLOB NOT NULL)")  # fmt: skip
            self.db.execute("CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner, seq)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS counters (owner TEXT PRIMARY KEY,"
                " last INTEGER NOT NULL, dropped INTEGER NOT NULL)")  # fmt: skip

    def put(self, owner: str, topic: str, build: object) -> int:
        """Store the record `build(number)` (bytes) under the owner's next number."""
        with self.db:
            return self._put(owner, topic, build)

    def put_many(self, records: list[tuple[str, str, object]]) -> list[int]:
        """`put` for several (owner, topic, build), in one transaction."""
        with self.db:
            return [self._put(owner, topic, build) for owner, topic, build in records]

    def _put(self, owner: str, topic: str, build: object) -> int:
        row = self.db.execute("SELECT last FROM counters WHERE owner=?", (owner,)).fetchone()
        number = (row[0] if row else 0) + 1
        payload = build(number)  # type: ignore[operator]
        self.db.execute(
            "INSERT INTO counters (owner, last, dropped) VALUES (?, ?, 0)"
            " ON CONFLICT(owner) DO UPDATE SET last=excluded.last", (owner, number))  # fmt: skip
        self.db.execute("INSERT INTO outbox (owner, number, topic, payload) VALUES (?, ?, ?, ?)",
                        (owner, number, topic, payload))  # fmt: skip
        over = self.pending_count(owner) - self.limit
        if over > 0:
            self.db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE owner=? AND number>?"
                " ORDER BY seq LIMIT ?)", (owner, self._acked.get(owner, 0), over))  # fmt: skip
            self.db.execute("UPDATE counters SET dropped=dropped+? WHERE owner=?", (over, owner))
        return int(number)

    def pending(self, owner: str, limit: int = 100) -> list[tuple[int, str, bytes]]:
        """The oldest unacknowledged records: (number, topic, payload)."""
        rows = self.db.execute(
            "SELECT number, topic, payload FROM outbox WHERE owner=? AND number>?"
            " ORDER BY seq LIMIT ?", (owner, self._acked.get(owner, 0), limit)).fetchall()  # fmt: skip
        return [(n, t, bytes(p)) for n, t, p in rows]

    def pending_count(self, owner: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox WHERE owner=? AND number>?",
                                   (owner, self._acked.get(owner, 0))).fetchone()[0])  # fmt: skip

    def ack_upto(self, owner: str, number: int) -> None:
        """Every record of the owner up to `number` is acknowledged; deleted at `flush`."""
        self._acked[owner] = max(number, self._acked.get(owner, 0))

    def flush(self) -> None:
        with self.db:
            for owner, number in self._acked.items():
                self.db.execute("DELETE FROM outbox WHERE owner=? AND number<=?", (owner, number))

    def ack(self, owner: str, number: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM outbox WHERE owner=? AND number=?", (owner, number))

    def dropped(self, owner: str) -> int:
        row = self.db.execute("SELECT dropped FROM counters WHERE owner=?", (owner,)).fetchone()
        return int(row[0]) if row else 0

    def last_number(self, owner: str) -> int:
        row = self.db.execute("SELECT last FROM counters WHERE owner=?", (owner,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        try:
            self.flush()
            self.db.close()
        except sqlite3.Error:
            pass
