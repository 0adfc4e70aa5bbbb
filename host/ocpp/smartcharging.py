"""Smart charging, sans-I/O: the installed charging profiles (on disk), their validation,
and the composite schedule per EVSE (OCPP 2.0.1 / 2.1 Part 2, functional block K).

Composition, as the OCPP 2.0.1 composite-schedule rules are implemented by an independent
stack (EVerest libocpp, ``lib/ocpp/v2/functional_blocks/smart_charging.cpp``,
``calculate_composite_schedule`` / ``generate_evse_intermediates``):
- within one purpose, at every instant the highest ``stackLevel`` with a period in force
  wins; where it has none (before its start, after its duration, outside its validity) the
  next level shows through;
- station-wide (evseId 0) TxDefaultProfiles and ChargingStationExternalConstraints apply to
  every EVSE, stacked together with the EVSE's own;
- a TxProfile of the EVSE's running transaction overrides the TxDefaultProfile wherever
  it has a period in force, at any stack level (K01: "TxProfile overrules TxDefaultProfile");
- the limit is the minimum of ChargingStationMaxProfile (always station-wide),
  ChargingStationExternalConstraints, the Tx layer and the EVSE's own rating (local choice:
  what the hardware can do, so a composite never promises more).
Limits are compared in watts: a period in A counts ``limit x phases x voltage`` with its
``numberPhases`` (default 3, K01.FR.49) and the EVSE's nominal voltage per phase
(``EvseSupply.voltage``, 230 V unless configured); the result is reported in the unit asked.

OCPP 2.1 V2X (our reading; EVerest libocpp's per-purpose operation-mode table agrees):
the Tx layer's period decides the ``operationMode`` (absent = ChargingOnly); discharge
limits are <= 0 and combine by the one nearest zero; ChargingOnly means no discharge; Idle
means neither; CentralSetpoint / CentralFrequency take the Tx layer's setpoint and
ExternalSetpoint the external constraints' one, clamped into [dischargeLimit, limit].
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from .chargingprofile import (
    CHARGING_ONLY,
    DEFAULT_PHASES,
    EXTERNAL,
    IDLE,
    NOMINAL_VOLTAGE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    ChargingProfile,
    Period,
    Segment,
    in_unit,
    segments,
    watts,
)
from .store import iso_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS charging_profile (
    id INTEGER PRIMARY KEY, evse_id INTEGER NOT NULL, source TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charging_tx (
    evse_id INTEGER PRIMARY KEY, tx_id TEXT NOT NULL, started REAL NOT NULL
);
"""

V2X_MODES = {  # the modes each purpose may carry (2.1; libocpp's table)
    STATION_MAX: {CHARGING_ONLY},
    EXTERNAL: {CHARGING_ONLY, "ExternalLimits", "ExternalSetpoint"},
}
NEEDS_SETPOINT = {"CentralSetpoint", "CentralFrequency"}
NEEDS_LIMIT = {CHARGING_ONLY}
MAX_STACK_LEVEL = 100  # SmartChargingCtrlr.ProfileStackLevel
MAX_PERIODS = 48  # SmartChargingCtrlr.PeriodsPerSchedule: a day in half hours
MAX_PROFILES = 64
HORIZON = 7 * 86400
SOURCES = ("CSO", "EMS", "SO", "Other")  # ChargingLimitSourceEnumType (2.0.1)  # how far ahead the published limit's expiry is looked for


@dataclass(frozen=True)
class EvseSupply:
    max_power_w: float  # rating: the cap of every composite
    phases: int = DEFAULT_PHASES
    voltage: float = NOMINAL_VOLTAGE


class Rejected(Exception):
    """A profile refused: ``reason`` goes to statusInfo.reasonCode (<= 20 chars)."""

    def __init__(self, reason: str, info: str) -> None:
        super().__init__(f"{reason}: {info}")
        self.reason = reason
        self.info = info


@dataclass(frozen=True)
class Level:
    """The composite at one instant, in W (negative = discharge)."""

    limit: float
    discharge_limit: float
    setpoint: float | None
    operation_mode: str
    phases: int


@dataclass(frozen=True)
class CompositePeriod:
    start: float
    end: float
    level: Level


class SmartCharging:
    def __init__(self, db: sqlite3.Connection, evses: dict[int, EvseSupply], *,
                 max_stack_level: int = MAX_STACK_LEVEL, max_periods: int = MAX_PERIODS,
                 max_profiles: int = MAX_PROFILES) -> None:  # fmt: skip
        self.db = db
        self.evses = evses
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        with db:
            db.executescript(SCHEMA)

    # --- what is installed -----------------------------------------------------------

    def profiles(self) -> list[ChargingProfile]:
        rows = self.db.execute("SELECT evse_id, source, body FROM charging_profile ORDER BY id")
        return [ChargingProfile.from_json(json.loads(b), e, s) for e, s, b in rows]

    def transaction(self, evse_id: int) -> tuple[str, float] | None:
        row = self.db.execute("SELECT tx_id, started FROM charging_tx WHERE evse_id = ?",
                              (evse_id,)).fetchone()  # fmt: skip
        return (row[0], row[1]) if row else None

    def tx_started(self, evse_id: int, tx_id: str, now: float) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO charging_tx VALUES (?, ?, ?)",
                            (evse_id, tx_id, now))  # fmt: skip

    def tx_ended(self, tx_id: str) -> None:
        """A TxProfile lives as long as its transaction (libocpp deletes it likewise)."""
        with self.db:
            self.db.execute("DELETE FROM charging_tx WHERE tx_id = ?", (tx_id,))
            for p in self.profiles():
                if p.purpose == TX and p.transaction_id == tx_id:
                    self.db.execute("DELETE FROM charging_profile WHERE id = ?", (p.id,))

    # --- K01 SetChargingProfile --------------------------------------------------------

    def set_profile(self, evse_id: int, obj: dict, source: str = "CSO") -> None:
        """Install a profile or raise Rejected. ``source`` other than CSO is a local
        setter (an EMS): only it may install ChargingStationExternalConstraints."""
        if source not in SOURCES:
            raise ValueError(f"chargingLimitSource {source!r} is none of {SOURCES}")
        profile = ChargingProfile.from_json(obj, evse_id, source)
        self.validate(profile)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO charging_profile VALUES (?, ?, ?, ?)",
                            (profile.id, evse_id, source, json.dumps(obj)))  # fmt: skip

    def validate(self, p: ChargingProfile) -> None:
        if p.evse_id != 0 and p.evse_id not in self.evses:
            raise Rejected("UnknownEVSE", f"no EVSE {p.evse_id}")  # K01.FR.28
        if p.purpose == EXTERNAL and p.source == "CSO":
            # local choice: external constraints come from the EMS; a CSMS's would be
            # overwritten by it (K01: the CSMS does not set this purpose)
            raise Rejected("InvalidProfileType", "external constraints are set locally")
        if p.purpose not in (STATION_MAX, TX_DEFAULT, TX, EXTERNAL):
            raise Rejected("UnsupportedPurpose", p.purpose)  # 2.1 PriorityCharging, ...
        if p.kind not in ("Absolute", "Recurring", "Relative"):
            raise Rejected("UnsupportedKind", p.kind)  # 2.1 Dynamic
        if p.stack_level > self.max_stack_level:
            raise Rejected("InvalidStackLevel", f"above ProfileStackLevel {self.max_stack_level}")
        if p.purpose == STATION_MAX:
            if p.evse_id != 0:
                raise Rejected("InvalidEvseId", "ChargingStationMaxProfile needs evseId 0")
            if p.kind == "Relative":
                raise Rejected("InvalidProfileKind", "a station maximum cannot be Relative")
        if p.purpose == TX:
            self._validate_tx(p)
        self._validate_schedule(p)
        lo, hi = p.valid_window()
        if lo >= hi:
            raise Rejected("InvalidValidity", "validTo is not after validFrom")
        installed = self.profiles()
        for q in installed:
            if q.id == p.id and q.purpose == EXTERNAL and p.source == "CSO":
                raise Rejected("InvalidProfileId", "id belongs to external constraints")  # K01.FR.05
            if q.id == p.id or q.purpose != p.purpose or q.stack_level != p.stack_level:
                continue
            if p.purpose == TX and q.transaction_id == p.transaction_id:
                raise Rejected("DuplicateProfile", f"profile {q.id} has this stack level")
            if p.purpose == TX_DEFAULT and 0 in (p.evse_id, q.evse_id) and p.evse_id != q.evse_id:
                raise Rejected("DuplicateProfile", f"profile {q.id} has this stack level")
            qlo, qhi = q.valid_window()
            if q.evse_id == p.evse_id and p.purpose != TX and qlo < hi and lo < qhi:
                # K01.FR.06: same purpose, level and EVSE must not be valid at once
                raise Rejected("DuplicateProfile", f"profile {q.id} overlaps in validity")
        if p.id not in {q.id for q in installed} and len(installed) >= self.max_profiles:
            raise Rejected("TooManyProfiles", f"{self.max_profiles} installed")

    def _validate_tx(self, p: ChargingProfile) -> None:
        if p.evse_id <= 0:
            raise Rejected("InvalidEvseId", "a TxProfile needs an EVSE")  # K01.FR.16
        if p.transaction_id is None:
            raise Rejected("TxNotFound", "a TxProfile needs a transactionId")  # K01.FR.03
        running = self.transaction(p.evse_id)
        if running is None or running[0] != p.transaction_id:  # K01.FR.09, K01.FR.33
            raise Rejected("TxNotFound", f"no transaction {p.transaction_id} on EVSE {p.evse_id}")

    def _validate_schedule(self, p: ChargingProfile) -> None:
        if len(p.schedules) != 1:
            # local choice: several schedules are for ISO 15118 offers, which we don't make yet
            raise Rejected("UnsupportedParam", "one chargingSchedule per profile")
        s = p.schedule
        if p.kind == "Relative" and s.start is not None:
            raise Rejected("InvalidSchedule", "Relative with startSchedule")  # K01.FR.41
        if p.kind != "Relative" and s.start is None:
            raise Rejected("InvalidSchedule", f"{p.kind} without startSchedule")  # K01.FR.40
        if p.kind == "Recurring" and p.recurrency is None:
            raise Rejected("InvalidSchedule", "Recurring without recurrencyKind")
        if len(s.periods) > self.max_periods:
            raise Rejected("TooManyPeriods", f"above PeriodsPerSchedule {self.max_periods}")
        if s.periods[0].start != 0:
            raise Rejected("InvalidSchedule", "first startPeriod is not 0")  # K01.FR.31
        supply = max((e.phases for e in self.evses.values()), default=DEFAULT_PHASES)
        if p.evse_id in self.evses:
            supply = self.evses[p.evse_id].phases
        for before, period in zip((None, *s.periods), s.periods, strict=False):
            if before is not None and period.start <= before.start:
                raise Rejected("InvalidSchedule", "startPeriod not increasing")  # K01.FR.35
            self._validate_period(p, period, supply)

    def _validate_period(self, p: ChargingProfile, period: Period, supply: int) -> None:
        if period.phases is not None and not 1 <= period.phases <= supply:
            raise Rejected("InvalidSchedule", f"numberPhases {period.phases}")  # K01.FR.45
        if period.phase_to_use is not None:  # K01.FR.19/20: we cannot switch phases
            raise Rejected("UnsupportedParam", "phaseToUse without phase switching")
        if period.limit is not None and period.limit < 0:
            raise Rejected("InvalidValue", "negative limit (discharge uses dischargeLimit)")
        if period.discharge_limit is not None and period.discharge_limit > 0:
            raise Rejected("InvalidValue", "dischargeLimit above 0")
        mode = period.mode
        if mode not in V2X_MODES.get(p.purpose, {mode}):
            raise Rejected("InvalidOperationMode", f"{mode} in a {p.purpose}")
        if mode in NEEDS_LIMIT and period.limit is None:
            raise Rejected("InvalidSchedule", f"{mode} needs a limit")
        if mode in NEEDS_SETPOINT and period.setpoint is None:
            raise Rejected("InvalidSchedule", f"{mode} needs a setpoint")

    # --- K10 ClearChargingProfile, K09 GetChargingProfiles -------------------------

    def clear(self, profile_id: int | None, evse_id: int | None = None,
              purpose: str | None = None, stack_level: int | None = None) -> bool:  # fmt: skip
        """Remove what matches; True if anything was. External constraints belong to the
        EMS and stay (local choice, as the CSMS cannot set them either)."""
        gone = []
        for p in self.profiles():
            if p.purpose == EXTERNAL:
                continue
            if profile_id is not None:
                hit = p.id == profile_id  # K10: the id alone decides
            else:
                hit = ((evse_id is None or p.evse_id == evse_id)
                       and (purpose is None or p.purpose == purpose)
                       and (stack_level is None or p.stack_level == stack_level))  # fmt: skip
            if hit:
                gone.append(p.id)
        with self.db:
            self.db.executemany("DELETE FROM charging_profile WHERE id = ?", [(i,) for i in gone])
        return bool(gone)

    def matching(self, evse_id: int | None, *, ids: Iterable[int] = (),
                 purpose: str | None = None, stack_level: int | None = None,
                 sources: Iterable[str] = ()) -> list[ChargingProfile]:  # fmt: skip
        """K09: all given criteria must hold; evseId absent means every EVSE."""
        ids, sources = set(ids), set(sources)
        return [p for p in self.profiles()
                if (evse_id is None or p.evse_id == evse_id)
                and (not ids or p.id in ids)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
                and (not sources or p.source in sources)]  # fmt: skip

    # --- K08 composite schedule ------------------------------------------------------

    def composite(self, evse_id: int, start: float, duration: float,
                  hold: bool = False) -> list[CompositePeriod]:  # fmt: skip
        """Piecewise-constant composite over [start, start + duration), merged where equal.
        ``hold``: Relative profiles stay in their first period while no transaction runs."""
        end = start + duration
        tx = self.transaction(evse_id) if evse_id else None
        layers: dict[str, list[Segment]] = {STATION_MAX: [], EXTERNAL: [], TX_DEFAULT: [], TX: []}
        for p in self.profiles():
            if p.evse_id not in (0, evse_id) or p.purpose not in layers:
                continue
            if p.purpose == TX and (tx is None or p.transaction_id != tx[0]):
                continue
            if evse_id == 0 and p.purpose in (TX, TX_DEFAULT):
                continue  # the station as a whole: its maximum and external constraints
            layers[p.purpose] += segments(p, start, end, tx[1] if tx else None, hold)
        cuts = {start, end}
        for segs in layers.values():
            for s in segs:
                cuts.update((s.start, s.end))
        times = sorted(t for t in cuts if start <= t <= end)
        out: list[CompositePeriod] = []
        for t0, t1 in zip(times, times[1:], strict=False):
            level = self._level(evse_id, {k: _top(v, t0) for k, v in layers.items()})
            if out and out[-1].level == level:
                out[-1] = CompositePeriod(out[-1].start, t1, level)
            else:
                out.append(CompositePeriod(t0, t1, level))
        return out

    def _supply(self, evse_id: int) -> EvseSupply:
        if evse_id:
            return self.evses[evse_id]
        return EvseSupply(sum(e.max_power_w for e in self.evses.values()),
                          max((e.phases for e in self.evses.values()), default=DEFAULT_PHASES),
                          NOMINAL_VOLTAGE)  # fmt: skip

    def _level(self, evse_id: int, top: dict[str, Segment | None]) -> Level:
        supply = self._supply(evse_id)

        def w(seg: Segment, value: float | None) -> float | None:
            if value is None:
                return None
            phases = seg.period.phases or supply.phases
            return watts(value, seg.profile.schedule.unit, phases, supply.voltage)

        txl = top[TX] or top[TX_DEFAULT]
        mode = txl.period.mode if txl else CHARGING_ONLY
        layers = [s for s in (top[STATION_MAX], top[EXTERNAL], txl) if s is not None]
        limits = [x for s in layers if (x := w(s, s.period.limit)) is not None]
        limit = min([supply.max_power_w, *limits])
        discharges = [x for s in layers if (x := w(s, s.period.discharge_limit)) is not None]
        discharge = max([-supply.max_power_w, *discharges])
        if mode == CHARGING_ONLY:
            discharge = 0.0
        elif mode == IDLE:
            limit = discharge = 0.0
        setpoint = None
        if mode in NEEDS_SETPOINT and txl is not None:
            setpoint = w(txl, txl.period.setpoint)
        elif mode == "ExternalSetpoint" and (ext := top[EXTERNAL]) is not None:
            setpoint = w(ext, ext.period.setpoint)
        if setpoint is not None:
            setpoint = min(max(setpoint, discharge), limit)
        phases = min([supply.phases, *(s.period.phases for s in layers if s.period.phases)])
        return Level(limit, discharge, setpoint, mode, phases)

    def composite_json(self, evse_id: int, start: float, duration: int, unit: str,
                       version: str) -> dict:  # fmt: skip
        """CompositeScheduleType; V2X fields only on 2.1."""
        voltage = self._supply(evse_id).voltage
        periods: list[dict] = []
        for c in self.composite(evse_id, start, max(duration, 1)):
            lv = c.level

            def conv(x: float, lv: Level = lv) -> float:
                return round(in_unit(x, unit, lv.phases, voltage), 1)

            period: dict = {"startPeriod": int(round(c.start - start)), "limit": conv(lv.limit),
                            "numberPhases": lv.phases}  # fmt: skip
            if version == "2.1":
                period["operationMode"] = lv.operation_mode
                if lv.discharge_limit < 0:
                    period["dischargeLimit"] = conv(lv.discharge_limit)
                if lv.setpoint is not None:
                    period["setpoint"] = conv(lv.setpoint)
            if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
                periods[-1] = period  # a sub-second sliver: the later value holds
            else:
                periods.append(period)
        return {"evseId": evse_id, "duration": duration, "scheduleStart": iso_time(start),
                "chargingRateUnit": unit, "chargingSchedulePeriod": periods}  # fmt: skip

    def limit_at(self, evse_id: int, now: float) -> tuple[Level, float | None]:
        """The level in force now and when it stops (None: no change within HORIZON)."""
        first = self.composite(evse_id, now, HORIZON, hold=True)[0]
        return first.level, (first.end if first.end < now + HORIZON else None)


def _top(segs: list[Segment], t: float) -> Segment | None:
    """The highest stack level with a period in force at t."""
    best: Segment | None = None
    for s in segs:
        if s.start <= t < s.end and (best is None or s.profile.stack_level > best.profile.stack_level):
            best = s
    return best
