"""Variable monitoring (OCPP 2.0.1 N04 SetVariableMonitoring, N05 ClearVariableMonitoring,
N07 NotifyEvent), monitors kept in SQLite.

Supported: UpperThreshold, LowerThreshold and Delta monitors on the Actual attribute of a
numeric (integer, decimal) variable. Periodic / PeriodicClockAligned and 2.1's TargetDelta
kinds answer UnsupportedMonitorType, as does any monitor on a non-numeric variable.

When a monitor fires (rules as we read N07):
- UpperThreshold: the value rises above the monitor's value → NotifyEvent trigger Alerting;
  LowerThreshold: it falls below. The monitor then stays tripped, sending nothing more,
  until the value is back by the hysteresis (HYSTERESIS of the threshold's magnitude, local
  choice: the standard names none), when one NotifyEvent with ``cleared`` true and
  ``cause`` the alert's eventId says so. A value that hovers at the threshold is one event.
- Delta: the value moved more than the monitor's value away from the value at the last
  event (or when the monitor was set) → trigger Delta; the new value is the next reference.
A monitor is checked when it is set (a value already beyond a threshold is reported) and on
every value the device model puts in force (``DeviceModel.listeners``). The tripped state,
the Delta reference and the event counter are on disk, so a restart neither repeats an
alert nor forgets to clear it.

Answers: Duplicate for a second monitor of the same variable, type and severity; Rejected
(with a reason) for an ``id`` we do not have, a threshold outside the variable's limits, a
Delta that is not positive, a WriteOnly variable, and ``transaction`` monitors (not
supported: the device model does not know transactions).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .devmodel import (
    Attribute,
    Component,
    DataType,
    DeviceModel,
    Mutability,
    Variable,
    VariableDef,
)
from .store import iso_time

HYSTERESIS = 0.01
SUPPORTED = ("UpperThreshold", "LowerThreshold", "Delta")

SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (
    id INTEGER PRIMARY KEY,
    component TEXT NOT NULL,   -- ComponentType JSON
    variable TEXT NOT NULL,    -- VariableType JSON
    type TEXT NOT NULL,
    value REAL NOT NULL,
    severity INTEGER NOT NULL,
    tripped INTEGER,           -- eventId of the alert in force (thresholds)
    reference REAL             -- the value at the last Delta event
);
CREATE TABLE IF NOT EXISTS monitor_events (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def supports(d: VariableDef) -> bool:
    """Whether a variable can carry our monitors (VariableCharacteristics.supportsMonitoring)."""
    return d.data_type in (DataType.INTEGER, DataType.DECIMAL) and any(
        a.type is Attribute.ACTUAL and a.mutability is not Mutability.WRITE_ONLY
        for a in d.attributes
    )


class Monitoring:
    def __init__(self, model: DeviceModel, notify: Callable[[dict, float], None]) -> None:
        """``notify(payload, now)`` sends a NotifyEvent."""
        self.model = model
        self.db = model.db
        self.notify = notify
        with self.db:
            self.db.executescript(SCHEMA)
        model.listeners.append(self._changed)

    # --- SetVariableMonitoring / ClearVariableMonitoring -----------------------------

    def set(self, items: list[dict], now: float) -> list[dict]:
        results = []
        for item in items:
            status, reason, mon_id = self._set_one(item)
            out: dict[str, Any] = {"status": status, "type": item["type"],
                                   "severity": item["severity"], "component": item["component"],
                                   "variable": item["variable"]}  # fmt: skip
            if mon_id is not None:
                out["id"] = mon_id
            if reason is not None:
                out["statusInfo"] = {"reasonCode": reason[0], "additionalInfo": reason[1]}
            results.append(out)
            if status == "Accepted" and mon_id is not None:
                self._check(mon_id, now)
        return results

    def _set_one(self, item: dict) -> tuple[str, tuple[str, str] | None, int | None]:
        component = Component.from_json(item["component"])
        variable = Variable.from_json(item["variable"])
        given = item.get("id")
        if not any(d.component.key() == component.key() for d in self.model.definitions()):
            return "UnknownComponent", None, given
        d = self.model.find(component, variable)
        if d is None:
            return "UnknownVariable", None, given
        kind, value = item["type"], float(item["value"])
        if kind not in SUPPORTED or d.data_type not in (DataType.INTEGER, DataType.DECIMAL):
            return "UnsupportedMonitorType", None, given
        if not supports(d):
            return "Rejected", ("UnsupportedParam", "no readable Actual value"), given
        if item.get("transaction"):
            return "Rejected", ("UnsupportedParam", "transaction monitors are not supported"), given
        if kind == "Delta" and value <= 0:
            return "Rejected", ("InvalidValue", "a Delta must be positive"), given
        if kind != "Delta" and ((d.min_limit is not None and value < d.min_limit)
                                or (d.max_limit is not None and value > d.max_limit)):  # fmt: skip
            return "Rejected", ("ValueOutOfRange", "threshold outside the variable's limits"), given
        if given is not None and self._row(given) is None:
            return "Rejected", ("InvalidValue", f"no monitor with id {given}"), given
        comp_json = json.dumps(d.component.to_json(), sort_keys=True)
        var_json = json.dumps(d.variable.to_json(), sort_keys=True)
        for (other,) in self.db.execute(
            "SELECT id FROM monitors WHERE component = ? AND variable = ? AND type = ?"
            " AND severity = ?", (comp_json, var_json, kind, item["severity"])
        ).fetchall():
            if other != given:
                return "Duplicate", None, given
        reference = float(self.model.attribute_value(d, Attribute.ACTUAL))
        with self.db:
            if given is None:
                cur = self.db.execute(
                    "INSERT INTO monitors (component, variable, type, value, severity, reference)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (comp_json, var_json, kind, value, item["severity"], reference))  # fmt: skip
                given = cur.lastrowid
            else:  # replaces the monitor: a fresh start
                self.db.execute(
                    "UPDATE monitors SET component = ?, variable = ?, type = ?, value = ?,"
                    " severity = ?, tripped = NULL, reference = ? WHERE id = ?",
                    (comp_json, var_json, kind, value, item["severity"], reference, given))  # fmt: skip
        return "Accepted", None, given

    def clear(self, ids: list[int]) -> list[dict]:
        results = []
        with self.db:
            for mon_id in ids:
                gone = self.db.execute("DELETE FROM monitors WHERE id = ?", (mon_id,)).rowcount
                results.append({"id": mon_id, "status": "Accepted" if gone else "NotFound"})
        return results

    def monitors(self) -> list[dict]:
        rows = self.db.execute("SELECT id, component, variable, type, value, severity"
                               " FROM monitors ORDER BY id").fetchall()  # fmt: skip
        return [{"id": r[0], "component": json.loads(r[1]), "variable": json.loads(r[2]),
                 "type": r[3], "value": r[4], "severity": r[5]} for r in rows]  # fmt: skip

    # --- firing ------------------------------------------------------------------------

    def _row(self, mon_id: int) -> tuple | None:
        row: tuple | None = self.db.execute(
            "SELECT component, variable, type, value, tripped, reference FROM monitors"
            " WHERE id = ?", (mon_id,)).fetchone()  # fmt: skip
        return row

    def _changed(self, d: VariableDef, attribute: Attribute, value: str,
                 now: float | None) -> None:  # fmt: skip
        if attribute is not Attribute.ACTUAL or not supports(d):
            return
        when = time.time() if now is None else now
        comp_json = json.dumps(d.component.to_json(), sort_keys=True)
        var_json = json.dumps(d.variable.to_json(), sort_keys=True)
        for (mon_id,) in self.db.execute(
            "SELECT id FROM monitors WHERE component = ? AND variable = ? ORDER BY id",
            (comp_json, var_json)).fetchall():  # fmt: skip
            self._check(mon_id, when)

    def _check(self, mon_id: int, now: float) -> None:
        row = self._row(mon_id)
        if row is None:
            return
        comp_json, var_json, kind, limit, tripped, reference = row
        d = self.model.find(Component.from_json(json.loads(comp_json)),
                            Variable.from_json(json.loads(var_json)))  # fmt: skip
        if d is None:  # the station no longer has it
            return
        text = self.model.attribute_value(d, Attribute.ACTUAL)
        value = float(text)
        # the event goes into the outbox before the monitor's state moves on: a crash in
        # between sends it again after the restart (a duplicate), never loses it
        if kind == "Delta":
            if abs(value - reference) > limit:
                with self.db:
                    event = self._event_id()
                self._send(d, mon_id, event, "Delta", text, now)
                with self.db:
                    self.db.execute("UPDATE monitors SET reference = ? WHERE id = ?", (value, mon_id))
            return
        band = abs(limit) * HYSTERESIS
        upper = kind == "UpperThreshold"
        beyond = value > limit if upper else value < limit
        back = value <= limit - band if upper else value >= limit + band
        if tripped is None and beyond:
            with self.db:
                event = self._event_id()
            self._send(d, mon_id, event, "Alerting", text, now)
            with self.db:
                self.db.execute("UPDATE monitors SET tripped = ? WHERE id = ?", (event, mon_id))
        elif tripped is not None and back:
            with self.db:
                event = self._event_id()
            self._send(d, mon_id, event, "Alerting", text, now, cleared_cause=tripped)
            with self.db:
                self.db.execute("UPDATE monitors SET tripped = NULL WHERE id = ?", (mon_id,))

    def _event_id(self) -> int:
        """The next eventId (inside the caller's transaction)."""
        self.db.execute("INSERT INTO monitor_events (name, value) VALUES ('eventId', 1)"
                        " ON CONFLICT (name) DO UPDATE SET value = value + 1")  # fmt: skip
        (n,) = self.db.execute("SELECT value FROM monitor_events WHERE name = 'eventId'").fetchone()
        return int(n)

    def _send(self, d: VariableDef, mon_id: int, event: int, trigger: str, value: str,
              now: float, cleared_cause: int | None = None) -> None:  # fmt: skip
        data: dict[str, Any] = {"eventId": event, "timestamp": iso_time(now), "trigger": trigger,
                                "actualValue": value, "eventNotificationType": "CustomMonitor",
                                "component": d.component.to_json(), "variable": d.variable.to_json(),
                                "variableMonitoringId": mon_id}  # fmt: skip
        if cleared_cause is not None:
            data["cleared"] = True
            data["cause"] = cleared_cause
        self.notify({"generatedAt": iso_time(now), "seqNo": 0, "tbc": False,
                     "eventData": [data]}, now)  # fmt: skip


def routes(mon: Monitoring) -> dict:
    """SetVariableMonitoring and ClearVariableMonitoring for a StationConnection."""
    from .machine import Route  # the machine registers these routes itself

    def on_set(req: dict, now: float) -> dict:
        return {"setMonitoringResult": mon.set(req["setMonitoringData"], now)}

    def on_clear(req: dict, now: float) -> dict:
        return {"clearMonitoringResult": mon.clear(req["id"])}

    return {"SetVariableMonitoring": Route(lambda obj: obj, on_set),
            "ClearVariableMonitoring": Route(lambda obj: obj, on_clear)}  # fmt: skip
