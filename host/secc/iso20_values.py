"""-20 value types: RationalNumberType (Value, a short, times 10**Exponent) and the power
schedules of ScheduleExchangeRes, from the controller's (start, value) entries."""

from __future__ import annotations

from typing import Any

from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas.iso20_common_types import RationalNumberType

SHORT_MAX = 32767


def rational(value: float) -> RationalNumberType:
    """The finest exponent (from -3) whose Value still fits a short: 400.5 V -> 4005e-1."""
    for exponent in range(-3, 8):
        scaled = round(value / 10**exponent)
        if -SHORT_MAX - 1 <= scaled <= SHORT_MAX:
            return RationalNumberType(Exponent=exponent, Value=scaled)
    raise ValueError(f"{value} does not fit a RationalNumber")


def from_rational(r: RationalNumberType) -> float:
    return float(r.Value * 10.0**r.Exponent)


def total(source: Any, name: str) -> float:
    """A per-phase field as the total of its phases (``name``, ``name_L2``, ``name_L3``)."""
    values = [getattr(source, name + suffix, None) for suffix in ("", "_L2", "_L3")]
    return sum(from_rational(v) for v in values if v is not None)


def durations(entries: tuple[tuple[int, Any], ...], total: int) -> list[tuple[int, Any]]:
    """(start, value) entries as (duration, value), the last one running to ``total``."""
    out = []
    for n, (start, value) in enumerate(entries):
        end = entries[n + 1][0] if n + 1 < len(entries) else total
        out.append((max(0, end - start), value))
    return out


def power_schedule(entries: tuple[tuple[int, float], ...], total: int, anchor: int,
                   points: int, sign: int) -> m.PowerScheduleType:  # fmt: skip
    """A PowerSchedule of at most ``points`` entries; ``sign`` -1 for a discharging
    schedule, whose powers are negative (-20: discharge is negative power)."""
    return m.PowerScheduleType(TimeAnchor=anchor, PowerScheduleEntries=m.PowerScheduleEntryListType(
        PowerScheduleEntry=[m.PowerScheduleEntryType(Duration=duration, Power=rational(sign * w))
                            for duration, w in durations(entries, total)[:max(1, points)]]))
