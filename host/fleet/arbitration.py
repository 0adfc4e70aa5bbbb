"""The station's arbitration of its power against the fog, the meter and the operator.

Power is signed at the meter: > 0 import (charging), < 0 export (discharging). What the
station may use is a window [min_w, max_w] and, while a DR event runs, a target inside it:

- the operator's maxima bound it on both sides (`max_charge_w`, `max_discharge_w`);
- no unmetered export: while the meter does not allow export (`export_allowed` false:
  host.meter.poller), min_w is 0, whatever the fog asks;
- the fog's "limit" setpoint caps import until it expires; a negative limit (the feeder
  wants export) narrows the window only as far as metered export allows;
- the fog's "target" setpoint (a DR event) is followed, clamped into the window, until it
  expires; without one the station follows its own request, clamped the same way.

Sans-I/O and pure: `arbitrate(now, holder, ...)` reads the `SetpointHolder`
(host.fleet.charger) at `now` and returns an `Allowance`; expiry is the holder's.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.fleet.charger import SetpointHolder


@dataclass(frozen=True)
class Allowance:
    min_w: float  # most export allowed, as a negative power (0: no export)
    max_w: float  # most import allowed
    target_w: float | None  # a DR event's power, already inside [min_w, max_w]
    bounds: tuple[str, ...]  # what set min_w / max_w / target_w, for logs and telemetry

    def apply(self, requested_w: float) -> float:
        """The power to use: the DR target while there is one, else `requested_w`
        clamped into the window."""
        if self.target_w is not None:
            return self.target_w
        return min(max(requested_w, self.min_w), self.max_w)


def arbitrate(now: float, holder: SetpointHolder, *, export_allowed: bool,
              max_charge_w: float, max_discharge_w: float) -> Allowance:
    if max_charge_w < 0 or max_discharge_w < 0:
        raise ValueError("max_charge_w and max_discharge_w are magnitudes (>= 0)")
    bounds = []
    max_w = max_charge_w
    if export_allowed:
        min_w = -max_discharge_w
    else:
        min_w = 0.0
        bounds.append("min: export not metered")
    limit = holder.limit(now)
    if limit is not None and limit < max_w:
        max_w = max(limit, min_w)  # the fog cannot push the station below metered export
        bounds.append("max: fog limit" if max_w == limit else "max: fog limit, held at min")
    target = holder.target(now)
    target_w = None
    if target is not None:
        target_w = min(max(target, min_w), max_w)
        bounds.append("target: DR" if target_w == target else "target: DR, clamped")
    return Allowance(min_w, max_w, target_w, tuple(bounds))
