"""Authorization (OCPP 2.0.1 Part 2 C and D): the local authorization list, the
authorization cache and the decision whether an idToken may charge, all sans-I/O on the
station's SQLite file.

The decision (``Authorization.decide``) follows the device model:
- AuthCtrlr.Enabled false: every token is accepted without asking (C01 does not apply);
- online: a token the local list or the cache holds as Accepted starts at once when
  AuthCtrlr.LocalPreAuthorize is true (C12, C13), and is confirmed by the CSMS through the
  TransactionEvent response; otherwise the CSMS is asked with Authorize (C01);
- offline: with AuthCtrlr.LocalAuthorizeOffline the local list, then the cache, decide
  (C14); a token neither knows starts only with OfflineTxForUnknownIdEnabled (C15);
- an entry counts as Accepted only with status Accepted and a cacheExpiryDateTime not
  passed; the local list wins over the cache (D01: the list is the CSO's statement).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from .devmodel import Component, DeviceModel, Variable
from .station import IdToken

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_list (token TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS local_list_version (one INTEGER PRIMARY KEY CHECK (one = 1),
                                               version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS auth_cache (token TEXT PRIMARY KEY, info TEXT NOT NULL,
                                       stored REAL NOT NULL);
"""


@dataclass(frozen=True)
class Decision:
    """``status`` is AuthorizationStatusEnumType (Accepted, Blocked, Expired, Invalid,
    Unknown, ...) or None while the CSMS has to be asked; ``source`` says who decided
    (local-list, cache, csms, offline-unknown, auth-disabled) for the log."""

    status: str | None
    source: str
    info: dict | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


ASK_CSMS = Decision(None, "csms")


def _expired(info: dict, now: float) -> bool:
    when = info.get("cacheExpiryDateTime")
    if not when:
        return False
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp() <= now
    except ValueError:  # a date-time the schema let through but we cannot read: distrust it
        return True


class Authorization:
    def __init__(self, db: sqlite3.Connection, model: DeviceModel) -> None:
        self.db = db
        self.model = model
        with db:
            db.executescript(SCHEMA)
        self._publish_entries()

    # --- the decision ----------------------------------------------------------------

    def decide(self, token: IdToken, *, online: bool, now: float) -> Decision:
        if not self.model.boolean("AuthCtrlr", "Enabled"):
            return Decision("Accepted", "auth-disabled")
        known = self.lookup(token, now)
        if online:
            if (known is not None and known.accepted
                    and self.model.boolean("AuthCtrlr", "LocalPreAuthorize")):  # fmt: skip
                return known
            return ASK_CSMS
        if not self.model.boolean("AuthCtrlr", "LocalAuthorizeOffline"):
            return Decision("Unknown", "offline")
        if known is not None:
            return known
        if self.model.boolean("AuthCtrlr", "OfflineTxForUnknownIdEnabled"):
            return Decision("Accepted", "offline-unknown")
        return Decision("Unknown", "offline")

    def lookup(self, token: IdToken, now: float) -> Decision | None:
        """What the local list, else the cache, says about a token; expired entries
        count as Expired."""
        for table, source, enabled in (("local_list", "local-list", self.list_enabled()),
                                       ("auth_cache", "cache", self.cache_enabled())):  # fmt: skip
            if not enabled:
                continue
            row = self.db.execute(f"SELECT info FROM {table} WHERE token = ?",  # noqa: S608
                                  (token.key,)).fetchone()  # fmt: skip
            if row is None:
                continue
            info = json.loads(row[0])
            if table == "auth_cache" and self._cache_stale(token, now):
                continue
            status = "Expired" if _expired(info, now) else info["status"]
            return Decision(status, source, info)
        return None

    # --- the cache (C10, C11) ----------------------------------------------------------

    def cache_enabled(self) -> bool:
        return self.model.boolean("AuthCacheCtrlr", "Enabled")

    def remember(self, token: IdToken, info: dict, now: float) -> None:
        """C10: every IdTokenInfo the CSMS sends updates the cache."""
        if not self.cache_enabled():
            return
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO auth_cache VALUES (?, ?, ?)",
                            (token.key, json.dumps(info), now))  # fmt: skip

    def clear_cache(self) -> bool:
        """ClearCache (C11): Rejected (False) while the cache is disabled."""
        if not self.cache_enabled():
            return False
        with self.db:
            self.db.execute("DELETE FROM auth_cache")
        return True

    def _cache_stale(self, token: IdToken, now: float) -> bool:
        lifetime = self.model.integer("AuthCacheCtrlr", "LifeTime")
        row = self.db.execute("SELECT stored FROM auth_cache WHERE token = ?",
                              (token.key,)).fetchone()  # fmt: skip
        return lifetime > 0 and row is not None and now - row[0] > lifetime

    # --- the local list (D01, D02) -----------------------------------------------------

    def list_enabled(self) -> bool:
        return self.model.boolean("LocalAuthListCtrlr", "Enabled")

    def version(self) -> int:
        """GetLocalListVersion (D02): 0 when there is no list (or it is disabled)."""
        if not self.list_enabled():
            return 0
        row = self.db.execute("SELECT version FROM local_list_version").fetchone()
        return row[0] if row else 0

    def send_local_list(self, version: int, update_type: str, entries: list[dict]) -> str:
        """SendLocalList (D01): the SendLocalListStatusEnumType to answer.

        Full replaces the list; Differential adds or updates the entries that carry
        idTokenInfo and removes those that do not, and only moves forward: a version not
        above the one held is a VersionMismatch. A token listed twice is
        Failed (the list would depend on the order). The whole update is one SQLite
        transaction: it applies entirely or not at all."""
        if not self.list_enabled():
            return "Failed"
        keys = [IdToken.from_json(e["idToken"]).key for e in entries]
        if len(set(keys)) != len(keys):
            return "Failed"
        if update_type == "Differential" and version <= self.version():
            return "VersionMismatch"
        if update_type == "Full" and version < 1:
            return "Failed"  # local choice: GetLocalListVersion uses 0 for "no list"
        with self.db:
            if update_type == "Full":
                self.db.execute("DELETE FROM local_list")
            for key, entry in zip(keys, entries, strict=True):
                info = entry.get("idTokenInfo")
                if info is None:
                    self.db.execute("DELETE FROM local_list WHERE token = ?", (key,))
                else:
                    self.db.execute("INSERT OR REPLACE INTO local_list VALUES (?, ?)",
                                    (key, json.dumps(info)))  # fmt: skip
            self.db.execute("INSERT OR REPLACE INTO local_list_version VALUES (1, ?)", (version,))
        self._publish_entries()
        return "Accepted"

    def _publish_entries(self) -> None:
        count = self.db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0]
        self.model.set_own(Component("LocalAuthListCtrlr"), Variable("Entries"), str(count))
