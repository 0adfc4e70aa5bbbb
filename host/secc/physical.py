"""PhysicalValueType (DIN 70121, ISO 15118-2): Value (a short) times 10**Multiplier, in Unit.
The same shape in both schemas, so these take the schema's class and unit member."""

from __future__ import annotations

from typing import Any

SHORT_MAX = 32767
MULTIPLIERS = range(-3, 4)  # the schemas' range for Multiplier


def to_physical(cls: type, unit: Any, value: float) -> Any:
    """The finest multiplier whose Value still fits a short (so 400.5 V -> 4005 x 10**-1,
    50 kW -> 5000 x 10**1)."""
    for multiplier in MULTIPLIERS:
        scaled = round(value / 10**multiplier)
        if -SHORT_MAX - 1 <= scaled <= SHORT_MAX:
            return cls(Multiplier=multiplier, Unit=unit, Value=scaled)
    raise ValueError(f"{value} does not fit a PhysicalValue")


def from_physical(pv: Any) -> float:
    return float(pv.Value * 10**pv.Multiplier)
