"""Charging profiles as typed values, and where each one's periods fall in time.

OCPP 2.0.1 Part 2 K01 / 2.1 K01 (ChargingProfileType, ChargingScheduleType,
ChargingSchedulePeriodType). Payloads have passed the JSON schema before they get here, so
the parsers only pick fields; the rules the schema cannot express live in
``smartcharging.validate``.

Where a profile's schedule starts:
- Absolute: at ``startSchedule``;
- Recurring: at ``startSchedule`` and again every day (Daily) or every 7 days (Weekly); an
  occurrence lasts until the next one, or ``duration`` if shorter;
- Relative: at the start of the EVSE's transaction; with none, at the start of the asked
  window (what the EVSE would do if a transaction started now), or, with ``hold``, its
  first period held until one starts (the limit in force while the EVSE waits).
Each period runs from its ``startPeriod`` to the next one's; the last runs to the
schedule's ``duration``, or without end. ``validFrom``/``validTo`` cut everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

DAY = 86400
WEEK = 7 * DAY
DEFAULT_PHASES = 3  # K01.FR.49: an AC period without numberPhases means 3
NOMINAL_VOLTAGE = 230.0  # local choice: V per phase for A <-> W (EVerest's LOW_VOLTAGE too)

STATION_MAX = "ChargingStationMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
EXTERNAL = "ChargingStationExternalConstraints"

CHARGING_ONLY = "ChargingOnly"
IDLE = "Idle"


def parse_time(text: str) -> float:
    """OCPP dateTime (RFC 3339) to epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def watts(value: float, unit: str, phases: int, voltage: float) -> float:
    """A per phase -> W over the phases in use; W stays W."""
    return value * phases * voltage if unit == "A" else value


def in_unit(value_w: float, unit: str, phases: int, voltage: float) -> float:
    return value_w / (phases * voltage) if unit == "A" else value_w


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the schedule's start
    limit: float | None  # 2.1 makes limit optional (a setpoint-only mode)
    phases: int | None = None
    phase_to_use: int | None = None
    discharge_limit: float | None = None  # 2.1, <= 0
    setpoint: float | None = None  # 2.1, negative = discharge
    operation_mode: str | None = None  # 2.1; absent means ChargingOnly

    @classmethod
    def from_json(cls, obj: dict) -> Period:
        return cls(obj["startPeriod"], obj.get("limit"), obj.get("numberPhases"),
                   obj.get("phaseToUse"), obj.get("dischargeLimit"), obj.get("setpoint"),
                   obj.get("operationMode"))  # fmt: skip

    @property
    def mode(self) -> str:
        return self.operation_mode or CHARGING_ONLY


@dataclass(frozen=True)
class Schedule:
    id: int
    unit: str  # "A" or "W"
    periods: tuple[Period, ...]
    start: float | None = None  # startSchedule
    duration: int | None = None

    @classmethod
    def from_json(cls, obj: dict) -> Schedule:
        start = obj.get("startSchedule")
        return cls(obj["id"], obj["chargingRateUnit"],
                   tuple(Period.from_json(p) for p in obj["chargingSchedulePeriod"]),
                   parse_time(start) if start is not None else None, obj.get("duration"))  # fmt: skip


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: str
    kind: str  # Absolute / Recurring / Relative (2.1 adds Dynamic)
    schedules: tuple[Schedule, ...]
    evse_id: int = 0
    source: str = "CSO"  # chargingLimitSource: who set it
    recurrency: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    transaction_id: str | None = None
    raw: dict = field(default_factory=dict, hash=False, compare=False)  # as received, for reports

    @classmethod
    def from_json(cls, obj: dict, evse_id: int, source: str = "CSO") -> ChargingProfile:
        vf, vt = obj.get("validFrom"), obj.get("validTo")
        return cls(obj["id"], obj["stackLevel"], obj["chargingProfilePurpose"],
                   obj["chargingProfileKind"],
                   tuple(Schedule.from_json(s) for s in obj["chargingSchedule"]), evse_id,
                   source, obj.get("recurrencyKind"),
                   parse_time(vf) if vf is not None else None,
                   parse_time(vt) if vt is not None else None, obj.get("transactionId"), obj)  # fmt: skip

    @property
    def schedule(self) -> Schedule:
        return self.schedules[0]  # we take one schedule; see smartcharging.validate

    def valid_window(self) -> tuple[float, float]:
        lo = self.valid_from if self.valid_from is not None else -math.inf
        hi = self.valid_to if self.valid_to is not None else math.inf
        return lo, hi


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which one period of one profile is in force."""

    start: float
    end: float
    period: Period
    profile: ChargingProfile


def _starts(p: ChargingProfile, a: float, b: float, tx_start: float | None) -> list[float]:
    """Start times of the profile's schedule occurrences that may reach into [a, b)."""
    s = p.schedule
    if p.kind == "Relative":
        return [tx_start if tx_start is not None else a]
    assert s.start is not None  # K01.FR.40, checked on entry
    if p.kind != "Recurring":
        return [s.start]
    every = WEEK if p.recurrency == "Weekly" else DAY
    first = max(0, math.floor((a - s.start) / every))
    last = math.floor((b - s.start) / every)
    return [s.start + k * every for k in range(first, last + 1)]


def segments(p: ChargingProfile, a: float, b: float, tx_start: float | None,
             hold: bool = False) -> list[Segment]:  # fmt: skip
    """The profile's periods that overlap [a, b), cut to it and to the validity window."""
    s = p.schedule
    lo, hi = p.valid_window()
    lo, hi = max(lo, a), min(hi, b)
    out: list[Segment] = []
    if hold and p.kind == "Relative" and tx_start is None:
        return [Segment(lo, hi, s.periods[0], p)] if lo < hi else []
    for start in _starts(p, a, b, tx_start):
        end = start + s.duration if s.duration is not None else math.inf
        if p.kind == "Recurring":
            end = min(end, start + (WEEK if p.recurrency == "Weekly" else DAY))
        for i, period in enumerate(s.periods):
            p0 = start + period.start
            p1 = start + s.periods[i + 1].start if i + 1 < len(s.periods) else math.inf
            p0, p1 = max(p0, lo), min(p1, end, hi)
            if p0 < p1:
                out.append(Segment(p0, p1, period, p))
    return out
