"""OCPP 2.1 DER control at the station (Part 2 block R), sans-I/O: SetDERControl,
GetDERControl -> ReportDERControl, ClearDERControl, NotifyDERStartStop; the controls on
disk (SQLite), the firmware settings they make (``der_map``) sent as link SetConfig
commands through a ``GridConfig``.

Which control is in force, per control type (our reading of R04, with the FR numbers as an
independent implementation, EVerest libocpp's der_control.cpp, cites them; *verify*):
- a scheduled control (isDefault false) is in force from its startTime for its duration,
  and while one is, it overrides every default control of its type; a default has no
  startTime/duration (R04.FR.13: Rejected), EnterService is a default only (R04.FR.15);
- within the defaults, and within the scheduled controls that overlap, a strictly lower
  ``priority`` value supersedes (R04.FR.03/06; equal priorities do not: then the one set
  last is carried out, a local choice); a new control beaten by an existing one is stored
  superseded and named in its own response (R04.FR.08);
- a control set again under the same controlId replaces the old one;
- exactly the setting field of the control type (R04.FR.16/17), trip curves in
  Not_Applicable units (R04.FR.51), else Rejected;
- no control of a type in force: the firmware's own settings for that type.
A scheduled control that has ended is deleted. A SetDERControl is checked before it is
stored: its settings, with the other controls now in force, must be what the firmware
takes (der_map.check), else Rejected / NotSupported with the reason; nothing is clamped.

What the firmware holds is kept on disk too (``der_applied``), so after a restart only
the differences go out; ``resync()`` when the firmware has restarted (it is back on its
defaults).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import der_map
from .chargingprofile import parse_time
from .der_map import FIELD_OF, KEYS_OF, WHY_NOT, Grid, Refused
from .store import iso_time

log = logging.getLogger("v2gate.ocpp.der")

SCHEMA = """
CREATE TABLE IF NOT EXISTS der_control (
    control_id TEXT PRIMARY KEY, control_type TEXT NOT NULL, is_default INTEGER NOT NULL,
    priority INTEGER NOT NULL, start REAL, duration REAL, body TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS der_applied (key INTEGER PRIMARY KEY, value INTEGER NOT NULL);
"""
REPORT_ITEMS = 24  # maxItems of each list in ReportDERControlRequest
SETTING_FIELDS = ("curve", "enterService", "fixedPFAbsorb", "fixedPFInject", "fixedVar",
                  "freqDroop", "gradient", "limitMaxDischarge")  # fmt: skip


class GridConfig(Protocol):
    """Where the settings go: the station sends each as a link SetConfig, in this order
    (the station interface implements it)."""

    def set_config(self, key: int, value: int) -> None: ...


@dataclass(frozen=True)
class DerControl:
    control_id: str
    control_type: str
    is_default: bool
    priority: int
    start: float | None
    duration: float | None
    setting: dict  # the request's curve / freqDroop / enterService object, as received
    seq: int  # order of setting: the later wins at equal priority

    @property
    def end(self) -> float | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + self.duration

    def active_at(self, now: float) -> bool:
        if self.is_default:
            return True
        assert self.start is not None and self.end is not None
        return self.start <= now < self.end

    def beats(self, other: DerControl) -> bool:
        """Carried out instead of ``other``: lower priority value, at a tie the later."""
        return (self.priority, -self.seq) < (other.priority, -other.seq)

    def overlaps(self, other: DerControl) -> bool:
        if self.is_default or other.is_default:
            return self.is_default == other.is_default
        assert self.start is not None and self.end is not None
        assert other.start is not None and other.end is not None
        return self.start < other.end and other.start < self.end


def _status(status: str, reason: str | None = None, info: str = "") -> dict:
    out: dict = {"status": status}
    if reason is not None:
        out["statusInfo"] = {"reasonCode": reason, "additionalInfo": info[:1024]}
    return out


class DerControls:
    def __init__(self, db: sqlite3.Connection, grid: Grid, sink: GridConfig, now: float) -> None:
        self.db = db
        self.grid = grid
        self.sink = sink
        self._calls: list[tuple[str, dict]] = []
        self._now = now
        self._running: set[str] = set()  # scheduled controls in force, as last reported
        with db:
            db.executescript(SCHEMA)
        self._apply(now, notify=False)
        self._running = {c.control_id for c in self.in_force(now).values() if not c.is_default}

    # --- what the station reads -------------------------------------------------------

    def take_calls(self) -> list[tuple[str, dict]]:
        """CALLs to send (ReportDERControl, NotifyDERStartStop), oldest first."""
        out, self._calls = self._calls, []
        return out

    def controls(self) -> list[DerControl]:
        rows = self.db.execute("SELECT control_id, control_type, is_default, priority, start, "
                               "duration, body, seq FROM der_control ORDER BY seq")  # fmt: skip
        return [DerControl(r[0], r[1], bool(r[2]), r[3], r[4], r[5], json.loads(r[6]), r[7])
                for r in rows]  # fmt: skip

    def in_force(self, now: float, extra: DerControl | None = None) -> dict[str, DerControl]:
        """The winning control per type at ``now`` (with ``extra`` as if it were stored)."""
        out: dict[str, DerControl] = {}
        pool = self.controls()
        if extra is not None:
            pool = [c for c in pool if c.control_id != extra.control_id] + [extra]
        for c in pool:
            if not c.active_at(now):
                continue
            best = out.get(c.control_type)
            if best is None or (best.is_default and not c.is_default) or (
                    best.is_default == c.is_default and c.beats(best)):  # fmt: skip
                out[c.control_type] = c
        return out

    def superseded(self, c: DerControl, pool: list[DerControl]) -> bool:
        """A control of its type and kind overlapping it has a strictly lower priority value."""
        return any(o.control_id != c.control_id and o.control_type == c.control_type
                   and o.overlaps(c) and o.priority < c.priority for o in pool)  # fmt: skip

    def applied(self) -> dict[int, int]:
        state = der_map.defaults(self.grid)
        state |= dict(self.db.execute("SELECT key, value FROM der_applied"))
        return state

    # --- CSMS requests ------------------------------------------------------------------

    def set_control(self, req: dict, now: float) -> dict:
        """SetDERControlRequest (schema-valid) -> SetDERControlResponse."""
        ctype, cid, is_default = req["controlType"], req["controlId"], req["isDefault"]
        if ctype in WHY_NOT:
            return _status("NotSupported", "UnsupportedParam", f"{ctype}: {WHY_NOT[ctype]}")
        field = FIELD_OF[ctype]
        given = [f for f in SETTING_FIELDS if f in req]
        if given != [field]:
            return _status("Rejected", "InvalidValue",
                           f"{ctype} takes its setting in '{field}' alone (got {given})")  # fmt: skip
        setting = req[field]
        start = duration = None
        if is_default and ("startTime" in setting or "duration" in setting):
            return _status("Rejected", "InvalidValue", "a default control has no startTime or duration")
        if not is_default:
            if ctype == "EnterService":
                return _status("Rejected", "InvalidValue", "EnterService is a default control only")
            if "startTime" not in setting or "duration" not in setting:
                return _status("Rejected", "InvalidValue",
                               "a scheduled control needs startTime and duration")  # fmt: skip
            try:
                start, duration = parse_time(setting["startTime"]), float(setting["duration"])
            except ValueError:  # the schema's date-time format is not checked on the way in
                return _status("Rejected", "InvalidValue", f"startTime {setting['startTime']!r}")
            if duration <= 0:
                return _status("Rejected", "InvalidValue", "duration must be positive")
        seq = (self.db.execute("SELECT MAX(seq) FROM der_control").fetchone()[0] or 0) + 1
        new = DerControl(cid, ctype, is_default, setting["priority"], start, duration, setting, seq)
        try:  # with the others now in force, as if this one were too
            forced = {t: c.setting for t, c in self.in_force(now).items() if t != ctype}
            der_map.target(forced | {ctype: setting}, self.grid)
        except Refused as e:
            return _status(e.status, e.reason, e.info)
        before = [c for c in self.controls() if c.control_id != cid]
        if self.superseded(new, before + [new]):  # R04.FR.08: stored, but beaten from the start
            gone = [cid]
        else:  # the ones this one takes out of play (not those out of it already)
            gone = [c.control_id for c in before if c.control_type == ctype and c.overlaps(new)
                    and new.priority < c.priority and not self.superseded(c, before)]  # fmt: skip
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO der_control VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (cid, ctype, int(is_default), new.priority, start, duration,
                             json.dumps(setting), seq))  # fmt: skip
        self._apply(now)
        out = _status("Accepted")
        if gone:
            out["supersededIds"] = gone[:24]
        return out

    def get_control(self, req: dict, now: float) -> dict:
        """GetDERControlRequest -> response; the controls found go out in
        ReportDERControl CALLs (``take_calls``), tbc on all but the last."""
        ctype = req.get("controlType")
        if "controlId" not in req and ctype in WHY_NOT:
            return _status("NotSupported", "UnsupportedParam", f"{ctype}: {WHY_NOT[ctype]}")
        pool = self.controls()
        found = [c for c in pool if self._matches(c, req)]
        if not found:
            return _status("NotFound")
        items = [self._report_item(c, pool) for c in found]
        chunks = [items[i:i + REPORT_ITEMS] for i in range(0, len(items), REPORT_ITEMS)]
        for n, chunk in enumerate(chunks):
            report: dict = {"requestId": req["requestId"]}
            for field, item in chunk:
                report.setdefault(field, []).append(item)
            if n + 1 < len(chunks):
                report["tbc"] = True
            self._calls.append(("ReportDERControl", report))
        return _status("Accepted")

    def clear_control(self, req: dict, now: float) -> dict:
        """ClearDERControlRequest -> response: by controlId, else every control of the
        type, else all, of the kind isDefault names."""
        ctype = req.get("controlType")
        if "controlId" not in req and ctype in WHY_NOT:  # R04.FR.43
            return _status("NotSupported", "UnsupportedParam", f"{ctype}: {WHY_NOT[ctype]}")
        found = [c for c in self.controls() if self._matches(c, req)]
        if not found:
            return _status("NotFound")
        with self.db:
            self.db.executemany("DELETE FROM der_control WHERE control_id = ?",
                                [(c.control_id,) for c in found])  # fmt: skip
        self._apply(now)
        return _status("Accepted")

    @staticmethod
    def _matches(c: DerControl, req: dict) -> bool:
        if "isDefault" in req and c.is_default != req["isDefault"]:
            return False
        if "controlId" in req:
            return c.control_id == req["controlId"]
        return req.get("controlType", c.control_type) == c.control_type

    def _report_item(self, c: DerControl, pool: list[DerControl]) -> tuple[str, dict]:
        field = FIELD_OF[c.control_type]
        if field == "enterService":  # EnterServiceGetType has neither flag
            return field, {"id": c.control_id, "enterService": c.setting}
        item = {"id": c.control_id, "isDefault": c.is_default,
                "isSuperseded": self.superseded(c, pool), field: c.setting}  # fmt: skip
        if field == "curve":
            item["curveType"] = c.control_type
        return field, item

    # --- time ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When a scheduled control starts or ends next."""
        edges = [t for c in self.controls() if not c.is_default
                 for t in (c.start, c.end) if t is not None and t > self._now]  # fmt: skip
        return min(edges, default=None)

    def handle_timer(self, now: float) -> None:
        self._apply(now)

    def resync(self, now: float) -> None:
        """The firmware restarted: it holds its defaults again; send what differs."""
        with self.db:
            self.db.execute("DELETE FROM der_applied")
        self._apply(now, notify=False)

    def link_event(self, event: object, now: float) -> None:
        """Feed any host.link event: after LinkUp (a new HostHello; the firmware may have
        restarted and lost its settings) everything that differs from its defaults goes
        out again."""
        from host.link.events import LinkUp

        if isinstance(event, LinkUp):
            self.resync(now)

    # --- applying -----------------------------------------------------------------------

    def _apply(self, now: float, notify: bool = True) -> None:
        self._now = now
        ended = [c.control_id for c in self.controls()
                 if not c.is_default and c.end is not None and c.end <= now]  # fmt: skip
        if ended:
            with self.db:
                self.db.executemany("DELETE FROM der_control WHERE control_id = ?",
                                    [(i,) for i in ended])  # fmt: skip
        winners = self.in_force(now)
        if notify:
            self._start_stop(winners, now)
        state = der_map.defaults(self.grid)
        for ctype, c in sorted(winners.items()):
            trial = state | dict(der_map.control_settings(ctype, c.setting, self.grid))
            try:  # checked when set; a combination that no longer holds keeps the defaults
                der_map.check(trial, self.grid, KEYS_OF[ctype])
            except Refused:
                continue
            state = trial
        try:
            commands = der_map.plan(self.applied(), state, self.grid)
        except Refused as e:  # not met with two stages per group; keep what the firmware has
            log.error("DER settings not sent: %s", e.info)
            return
        for key, value in commands:
            self.sink.set_config(key, value)
        if commands:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO der_applied VALUES (?, ?)", commands)

    def _start_stop(self, winners: dict[str, DerControl], now: float) -> None:
        """NotifyDERStartStop for scheduled controls that came into force or left it."""
        running = {c.control_id: c for c in winners.values() if not c.is_default}
        stamp = iso_time(now)
        for cid in sorted(self._running - set(running)):
            self._calls.append(("NotifyDERStartStop", {"controlId": cid, "started": False,
                                                       "timestamp": stamp}))  # fmt: skip
        pool = self.controls()
        for cid in sorted(set(running) - self._running):
            c = running[cid]
            msg: dict = {"controlId": cid, "started": True, "timestamp": stamp}
            beaten = [o.control_id for o in pool if o.control_type == c.control_type
                      and o.control_id != cid and o.active_at(now)]  # fmt: skip
            if beaten:
                msg["supersededIds"] = beaten[:24]
            self._calls.append(("NotifyDERStartStop", msg))
        self._running = set(running)


def attach(st: object, der: DerControls, after: Callable[[float], None] = lambda now: None) -> None:
    """Register the DER routes with a StationConnection (``add_routes``): a CALL made
    while a request is being handled goes out after its answer. ``after(now)`` runs after
    each request (the station logic sets its alarm to ``der.get_timer()``)."""
    from .machine import Route

    def route(handler: Callable[[dict, float], dict]) -> Route:
        def handle(req: dict, now: float) -> dict:
            out = handler(req, now)
            for action, payload in der.take_calls():
                st.call(action, payload, now)  # type: ignore[attr-defined]
            after(now)
            return out

        return Route(lambda obj: obj, handle)

    st.add_routes({"SetDERControl": route(der.set_control),  # type: ignore[attr-defined]
                   "GetDERControl": route(der.get_control),
                   "ClearDERControl": route(der.clear_control)})  # fmt: skip


def tick(st: object, der: DerControls, now: float) -> None:
    """At ``der.get_timer()``: start and end scheduled controls, and send what that
    causes (NotifyDERStartStop)."""
    der.handle_timer(now)
    for action, payload in der.take_calls():
        st.call(action, payload, now)  # type: ignore[attr-defined]
