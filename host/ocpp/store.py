"""The SQLite file the station keeps its transactions and device model in.

WAL with synchronous=FULL: every commit is fsynced before ``commit()`` returns, so a
TransactionEvent is on disk before it is offered for sending, and a power cut loses nothing
that was acknowledged to the caller (https://sqlite.org/pragma.html#pragma_synchronous).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def open_db(path: str | Path) -> sqlite3.Connection:
    # autocommit off: each ``with db:`` block is one transaction
    db = sqlite3.connect(str(path), isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def iso_time(now: float) -> str:
    """OCPP dateTime (RFC 3339, UTC, milliseconds): OCPP 2.0.1 Part 2 §2.1.2."""
    whole = int(now)
    ms = int(round((now - whole) * 1000))
    if ms == 1000:
        whole, ms = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"
