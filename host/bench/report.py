"""What `v2gate simulate` shows: the timeline as it comes, and the JSON document.

The host process reports the firmware's words as it got them (bit words, codes, tenths);
here they become names: fault names instead of `latched` bit words, interlock names
instead of `refused`, the trip's name instead of a GridStatus index. Periodic samples
(Status, Telemetry, GridStatus, a few per second) are kept only where they change.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from firmware.app import dc, faults, gridfunc, interlocks

SCHEMA_VERSION = 1
PERIODIC = ("status", "telemetry", "grid", "cable", "wear", "dc")
REPEATED = ("cable", "wear")  # sent with every Telemetry too: shown and kept when they change
GRID_TRIP_CODE = 60
LINK_FAULT_CODES = (10, 11)  # their detail is the time from the last host frame to safe
WELD_CODES = (faults.code_of(faults.CONTACTOR_WELD), faults.code_of(faults.DC_WELD))
# DC faults whose detail is not a time: the IMD's reading, which contacts welded (dc.py)
IMD_CODE = faults.code_of(faults.IMD_ALARM)
DC_WELD_CODE = faults.code_of(faults.DC_WELD)
DC_WELD_CAUSES = ((dc.WELD_PLUS_AUX, "plus-aux"), (dc.WELD_MINUS_AUX, "minus-aux"),
                  (dc.WELD_VOLTAGE, "dc-link-voltage"))
# decimals kept per field in JSON; other floats get 3
DECIMALS = {"v_rms": 1, "temp_c": 1, "current_a": 2, "limit_a": 1, "cp_high_v": 2,
            "cp_low_v": 2, "rocof_hz_s": 2, "duty_percent": 2}
# a periodic sample is kept when one of these moved by at least this much since the last
CHANGE = {"current_a": 0.5, "temp_c": 1.0, "cp_high_v": 0.5, "cp_low_v": 0.5,
          "freq_hz": 0.01, "v_rms": 2.0, "rocof_hz_s": 0.1, "droop_w": 10, "limit_a": 1.0,
          "duty_percent": 1.0, "pp_ohms": 25, "dc_link_v": 10.0}


def interlock_names(bits: int) -> list[str]:
    return [name for bit, name in interlocks.TABLE if bits & bit]


def fault_label(code: int) -> str | None:
    return faults.label(code) if code else None


def _words(value: Any, namer: Callable[[int], list[str]]) -> Any:
    return namer(value) if isinstance(value, int) and not isinstance(value, bool) else value


def label(r: dict[str, Any]) -> dict[str, Any]:
    """One host record with its bit words and codes named, its fields labelled."""
    e = r.get("event")
    out = dict(r)
    if e == "status":
        out["faults"] = _words(r.get("faults"), faults.names)
        out["latched"] = _words(r.get("latched"), faults.names)
        out["refused"] = _words(r.get("refused"), interlock_names)
        if isinstance(r.get("safe_reason"), int):
            out["safe_reason"] = fault_label(r["safe_reason"])
        if isinstance(r.get("duty"), int):
            del out["duty"]
            out["duty_percent"] = r["duty"] / 100 if r.get("pilot") == "pwm" else None
        out["contactor"] = contactor_state(r)
    elif e == "contactor" and isinstance(r.get("reason"), int):
        names = interlock_names(r["reason"])
        out["reason"] = names[0] if names else None
    elif e == "fault" and isinstance(r.get("code"), int):
        del out["code"]
        out["fault"] = r.get("fault") or faults.label(r["code"])
        detail = out.pop("detail_ms", None)
        if r["code"] == GRID_TRIP_CODE and isinstance(detail, int):
            ok = detail < len(gridfunc.TRIP_NAMES)
            out["trip"] = gridfunc.TRIP_NAMES[detail] if ok else f"trip {detail}"
        elif r["code"] in LINK_FAULT_CODES:
            out["safe_state_ms"] = detail
        elif r["code"] == IMD_CODE and isinstance(detail, int):
            out["imd_kohm"] = detail or None  # 0: the alarm contact, no reading
        elif r["code"] == DC_WELD_CODE and isinstance(detail, int):
            out["found_by"] = [name for bit, name in DC_WELD_CAUSES if detail & bit]
        elif detail:
            out["detail_ms"] = detail
        for word in ("active", "latched"):
            if word in out:
                out[word] = _words(out[word], faults.names)
    return out


def contactor_state(status: dict[str, Any]) -> str:
    """What the contacts are, not what the coil is told: latched weld means welded shut."""
    latched = status.get("latched")
    welded = (latched & (faults.CONTACTOR_WELD | faults.DC_WELD) if isinstance(latched, int)
              else bool({"contactor-weld", "dc-contactor-weld"} & set(latched or [])))  # fmt: skip
    if welded:
        return "welded"
    closed = status.get("contactor")
    if isinstance(closed, str):
        return closed
    return "closed" if closed else "open"


def rounded(value: Any, key: str = "") -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS.get(key, 3))
    if isinstance(value, dict):
        return {k: rounded(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, key) for v in value]
    return value


def changes(samples: list[dict[str, Any]], ignore: tuple[str, ...] = ("t", "fw_ms")) -> list[dict[str, Any]]:
    """The samples where something moved (by the CHANGE step for numbers), and the last."""
    kept: list[dict[str, Any]] = []
    for s in samples:
        if not kept or _moved(kept[-1], s, ignore):
            kept.append(s)
    if samples and kept[-1] is not samples[-1]:
        kept.append(samples[-1])
    return kept


def _moved(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...]) -> bool:
    for k, v in b.items():
        if k in ignore:
            continue
        w = a.get(k)
        step = CHANGE.get(k)
        if step is not None and isinstance(v, int | float) and isinstance(w, int | float):
            if abs(v - w) >= step:
                return True
        elif v != w:
            return True
    return False


def to_json(summary: dict[str, Any], grid: bool) -> dict[str, Any]:
    """The document `--json` prints: labelled, rounded, periodic samples decimated."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    records = summary.get("timeline", [])
    for key, value in summary.items():
        if key == "timeline":
            continue
        if key == "faults":
            value = [label({"event": "fault", **f}) for f in value]
            for f in value:
                f.pop("event", None)
        elif key == "fault_codes":
            key, value = "faults_raised", [faults.label(c) for c in value]
        elif key == "contactor_events":
            value = [{k: v for k, v in label({"event": "contactor", **c}).items() if k != "event"}
                     for c in value]
        elif key in ("trace", "grid_trace"):
            value = changes(value)
        elif key == "limits":
            value = changes(value, ("t",))
        out[key] = value
    labelled = [label(r) for r in records]
    out["timeline"] = [r for r in labelled if r.get("event") not in PERIODIC]
    statuses = changes([r for r in labelled if r.get("event") == "status"])
    out["status_changes"] = statuses
    out["telemetry"] = changes([_sample(r) for r in labelled if r.get("event") == "telemetry"])
    for kind in REPEATED:  # issue 15: cable_changes, wear_changes
        samples = [_sample(r) for r in labelled if r.get("event") == kind]
        kept = []  # each contactor's wear apart (a DC board reports three in turn)
        for who in sorted({s.get("contactor", 0) for s in samples}):
            kept += changes([s for s in samples if s.get("contactor", 0) == who],
                            ("t", "fw_ms", "guard_ms"))
        if kept:
            out[kind + "_changes"] = sorted(kept, key=lambda s: s.get("t", 0))
    if grid and "grid_trace" not in out:
        out["grid_trace"] = changes([_sample(r) for r in labelled if r.get("event") == "grid"])
    dc = [_sample(r) for r in labelled if r.get("event") == "dc"]
    if dc:  # a board with DC hardware: the pair, stage, dc_link_v and isolation as they moved
        out["dc_changes"] = changes(dc)
    out["samples_received"] = {e: sum(1 for r in records if r.get("event") == e) for e in PERIODIC}
    return rounded(out)


def _sample(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "event"}


class Printer:
    """Prints the timeline one line per step as records arrive, then the verdict.

    Columns: time, CP, pilot, contactor, current; with `thermal` the connector
    temperature and the current the firmware lets the EV draw (Status.limit); with `grid`
    frequency and voltage. A value not measured since the contactor last moved shows
    as `-` rather than the one from before. Steps smaller than a reader cares about
    (droop by the watt, the limit by the tenth of an ampere) are left to the JSON.
    """

    def __init__(self, grid: bool = False, thermal: bool = False, out: TextIO | None = None) -> None:
        self.grid = grid
        self.thermal = thermal
        self.out = out or sys.stdout
        self.cp = "?"
        self.pilot = "-"
        self.contactor = "?"  # until the first Status
        self.current: float | None = None
        self.temp: float | None = None
        self.temp_shown: float | None = None
        self.limit_shown: float | None = None
        self.droop_offer: float | None = None
        self.limit: float | None = None
        self.freq: float | None = None
        self.volts: float | None = None
        self.grid_shown: dict[str, Any] = {}
        self.dc_shown: tuple[Any, ...] = ()
        self.header_done = False
        # the last cable report shown, and each contactor's last wear report
        self.repeated: dict[tuple[str, int], dict[str, Any]] = {}

    def feed(self, r: dict[str, Any]) -> None:
        text = self._text(r)
        if text is not None:
            self._line(r.get("t", 0.0), text)

    def _text(self, r: dict[str, Any]) -> str | None:
        e = r.get("event")
        if e == "cp":
            self.cp = r["to"]
            return f"CP {r['from']} -> {r['to']}"
        if e == "status":
            return self._status(r)
        if e == "telemetry":
            return self._telemetry(r)
        if e == "grid":
            return self._grid_sample(r)
        if e in REPEATED:
            now = {k: v for k, v in r.items() if k not in ("t", "event", "fw_ms", "guard_ms")}
            who = (e, r.get("contactor", 0))
            last = self.repeated.get(who)
            if last is not None and not _moved(last, now, ()):
                return None
            self.repeated[who] = now
            return e + ": " + ", ".join(f"{k} {v}" for k, v in now.items())
        if e == "dc":
            return self._dc(r)
        if e == "contactor":
            state = "closed" if r["closed"] else "open"
            if self.contactor != "welded" or r["closed"]:
                self.contactor = state
            self.current = None  # the next telemetry tells what flows now
            why = label(r).get("reason")
            return f"contactor {'closed' if r['closed'] else 'opened'}" + (f" ({why})" if why else "")
        if e == "fault":
            f = label(r)
            if r.get("code") in WELD_CODES:
                self.contactor = "welded"
            extra = ", ".join(f"{k} {v}" for k, v in f.items()
                              if k not in ("t", "event", "fault", "fw_ms") and v is not None)
            return f"fault {f['fault']}" + (f" ({extra})" if extra else "")
        if e == "droop-applied":  # one per droop step: show whole amperes (JSON has all)
            shown, self.droop_offer = self.droop_offer, r.get("current_a", 0.0)
            if shown is not None and abs(self.droop_offer - shown) < 1:
                self.droop_offer = shown
                return None
            return f"droop: offer {self.droop_offer} A for {r.get('droop_w')} W less"
        if e in ("link-up", "link-down", "host-killed"):
            self._unknown()  # until the firmware's next Status, nothing shown is known
            if e == "link-up":
                return f"link up: board {r.get('board')}, protocol {r.get('proto')}"
        return (e or "?") + "".join(f" {k}={v}" for k, v in r.items()
                                    if k not in ("t", "event", "fw_ms"))

    def _unknown(self) -> None:
        self.cp, self.pilot, self.contactor, self.current = "?", "-", "?", None

    def _status(self, r: dict[str, Any]) -> str | None:
        if r.get("cp") and r["cp"] != "?":
            self.cp = r["cp"]
        pilot = r.get("pilot")
        self.pilot = f"{r['duty'] / 100:.1f}%" if pilot == "pwm" and "duty" in r else str(pilot)
        state = contactor_state(r)
        if state != self.contactor:
            self.contactor = state
            self.current = None
        limit = r.get("limit_a")
        self.limit, shown = limit, self.limit_shown
        if not self.thermal or limit is None or (shown is not None and abs(limit - shown) < 2):
            return None
        self.limit_shown = limit
        if shown is None:
            return None
        return f"firmware {'lowers' if limit < shown else 'raises'} the limit to {limit:.1f} A"

    def _telemetry(self, r: dict[str, Any]) -> str | None:
        current, temp = r.get("current_a", 0.0), r.get("temp_c")
        moved = self.current is None or abs(current - self.current) >= 0.5
        warmer = (self.thermal and temp is not None
                  and (self.temp_shown is None or abs(temp - self.temp_shown) >= 5))  # fmt: skip
        self.current, self.temp = current, temp
        if warmer:
            self.temp_shown = temp
        return "measured" if moved or warmer else None

    def _dc(self, r: dict[str, Any]) -> str | None:
        """DcStatus (DC boards): a line when the pair, the stage or the isolation moves."""
        shown = (r.get("phase"), r.get("stage"), r.get("isolation"), r.get("imd_alarm"),
                 r.get("plus"), r.get("minus"), r.get("precharge"))
        if shown == self.dc_shown:
            return None
        self.dc_shown = shown
        drives = "+".join(n for n in ("minus", "precharge", "plus") if r.get(n)) or "none"
        return (f"dc: pair {r.get('phase')} (driven {drives}), stage {'on' if r.get('stage') else 'off'}, "
                f"dc_link {r.get('dc_link_v')} V, isolation {r.get('isolation')}"
                + (", IMD ALARM" if r.get("imd_alarm") else ""))

    def _grid_sample(self, r: dict[str, Any]) -> str | None:
        self.freq, self.volts = r.get("freq_hz"), r.get("v_rms")
        if not self.grid:
            return None
        now = {"trip": r.get("trip"), "refused": r.get("refused"), "droop_w": r.get("droop_w")}
        last = self.grid_shown
        moved = (not last or now["trip"] != last["trip"] or now["refused"] != last["refused"]
                 or abs((now["droop_w"] or 0) - last["droop_w"]) >= 250
                 or abs((self.freq or 0) - last["freq"]) >= 0.05
                 or abs((self.volts or 0) - last["volts"]) >= 5)  # fmt: skip
        if not moved:
            return None
        self.grid_shown = {**now, "droop_w": now["droop_w"] or 0, "freq": self.freq or 0,
                           "volts": self.volts or 0}
        parts = [f"trip {now['trip']}" if now["trip"] else "",
                 "refused " + ",".join(now["refused"]) if now["refused"] else "",
                 f"droop {now['droop_w']} W" if now["droop_w"] else ""]
        return "grid" + "".join(f", {p}" for p in parts if p).replace("grid, ", "grid: ", 1)

    def _line(self, t: float, text: str) -> None:
        if not self.header_done:
            self.header_done = True
            head = f"{'time':>7}  {'CP':2} {'pilot':>6} {'contactor':9} {'current':>7}"
            if self.thermal:
                head += f" {'temp':>6} {'limit':>6}"
            if self.grid:
                head += f" {'freq':>8} {'voltage':>7}"
            print(head + "  event", file=self.out, flush=True)
        cur = "-" if self.current is None else f"{self.current:.1f}A"
        line = f"{t:7.3f}  {self.cp:2} {self.pilot:>6} {self.contactor:9} {cur:>7}"
        if self.thermal:
            line += f" {_num(self.temp, '{:.0f}C')} {_num(self.limit, '{:.1f}A')}"
        if self.grid:
            line += f" {_num(self.freq, '{:.3f}Hz', 8)} {_num(self.volts, '{:.0f}V', 7)}"
        print(f"{line}  {text}", file=self.out, flush=True)

    def finish(self, s: dict[str, Any]) -> None:
        for key, value in s.items():
            if isinstance(value, dict):  # a scenario's own summary (e.g. slac)
                print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()), file=self.out)
        if s.get("verdict"):
            print(f"verdict: {s['verdict']}", file=self.out)
        on = s["firmware_runtime"]
        print(f"result: {s['result']}" + ("" if on == "none" else f"  (firmware on {on})"),
              file=self.out, flush=True)


def _num(value: float | None, fmt: str, width: int = 6) -> str:
    return f"{'-' if value is None else fmt.format(value):>{width}}"
