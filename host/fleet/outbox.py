"""Store-and-forward: telemetry is on disk before it is offered to the broker.

A record is numbered when it is stored (per owner, from 1, never reused even after it
is sent) and deleted only when its receiver (the fog node) has acknowledged it by number,
end to end: a broker's PUBACK is not enough, because a broker that restarts can drop
what it accepted (mosquitto 2.0 does not restore shared subscriptions after a restart,
so what arrives before the fog resubscribes goes nowhere). While the broker or the fog is
unreachable records pile up here; they go out oldest first, and again if no
acknowledgement comes. So a receiver sees every number, possibly more than once.

The queue is bounded (`limit` records per owner): beyond it the oldest are dropped and
counted in `dropped`, because a charger cut off for weeks must not fill its disk; at one
record a second the default holds a week.

One database can hold several owners, so a fleet simulator's chargers share a file; a
real charger has one owner. A simulator of hundreds of chargers stores their records in
one transaction (`put_many`) and deletes acknowledged ones in batches (`ack(...,
defer=True)` then `flush`): a crash between the two resends those records, which
at-least-once allows. `durable=False` trades the fsync per record for speed
(a process crash still loses nothing; a power cut may lose the last records).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from host.ocpp.store import open_db

DEFAULT_LIMIT = 7 * 86400


class Outbox:
    def __init__(self, path: str | Path, *, durable: bool = True, limit: int = DEFAULT_LIMIT) -> None:
        self.db = open_db(path)
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.limit = limit
        self._deferred: list[tuple[str, int, int]] = []  # acknowledged, deleted at `flush`
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " owner TEXT NOT NULL, number INTEGER NOT NULL, topic TEXT NOT NULL,"
                " payload BLOB NOT NULL)")  # fmt: skip
            self.db.execute("CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner, seq)")
            # acknowledgements delete by number: without it each range scanned the backlog
            self.db.execute("CREATE INDEX IF NOT EXISTS outbox_number ON outbox (owner, number)")
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
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE owner=?"
                " ORDER BY seq LIMIT ?)", (owner, over))  # fmt: skip
            self.db.execute("UPDATE counters SET dropped=dropped+? WHERE owner=?", (over, owner))
        return int(number)

    def pending(self, owner: str, limit: int = 100, after: int = 0) -> list[tuple[int, str, bytes]]:
        """The oldest unacknowledged records numbered above `after`: (number, topic, payload)."""
        rows = self.db.execute(
            "SELECT number, topic, payload FROM outbox WHERE owner=? AND number>?"
            " ORDER BY seq LIMIT ?", (owner, after, limit)).fetchall()  # fmt: skip
        return [(n, t, bytes(p)) for n, t, p in rows]

    def pending_count(self, owner: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox WHERE owner=?",
                                   (owner,)).fetchone()[0])  # fmt: skip

    def ack(self, owner: str, first: int, last: int | None = None, *, defer: bool = False) -> None:
        """Records `first`..`last` (default: just `first`) were received: delete them, now
        or at the next `flush`."""
        self.ack_ranges(owner, [(first, first if last is None else last)], defer=defer)

    def ack_ranges(self, owner: str, ranges: Iterable[tuple[int, int]], *,
                   defer: bool = False) -> None:  # fmt: skip
        """`ack` of several inclusive ranges, in one transaction (one fsync, not one each)."""
        spans = [(owner, first, last) for first, last in ranges]
        if defer:
            self._deferred += spans
            return
        with self.db:
            self.db.executemany("DELETE FROM outbox WHERE owner=? AND number BETWEEN ? AND ?",
                                spans)  # fmt: skip

    def flush(self) -> None:
        spans, self._deferred = self._deferred, []
        if spans:
            with self.db:
                self.db.executemany("DELETE FROM outbox WHERE owner=? AND number BETWEEN ? AND ?",
                                    spans)  # fmt: skip

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
