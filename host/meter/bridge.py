"""From the meter poller's events to the station's metrics and its fleet telemetry, sans-I/O.

`MeterBridge.feed(event)` updates the Prometheus gauges (StationMetrics.meter_event) and
returns the fields of a fleet telemetry record (`ChargerLink.record(**fields)`) when the
event changes what the fleet should see: a reading, a change of export permission, the
meter lost or back. The caller records them; nothing here does I/O.

No unmetered export: `max_discharge_w` is the charger's rated discharge only while the
poller allows export (a meter answering, energies not flagged, the site controller's
enable bit set); otherwise 0, so the fog never dispatches discharge it cannot meter. While
the meter is lost, the energies are left out (None: not vouched for), the last power stays
with a "meter_lost" fault next to it, and the fog sees the charger cannot discharge.
"""

from __future__ import annotations

from typing import Any

from host.meter import poller as mp
from host.telemetry.metrics import StationMetrics

METER_LOST_FAULT = "meter_lost"


class MeterBridge:
    def __init__(self, connector: str, *, max_charge_w: float, max_discharge_w: float,
                 metrics: StationMetrics | None = None) -> None:
        if max_charge_w < 0 or max_discharge_w < 0:
            raise ValueError("max_charge_w and max_discharge_w are magnitudes (>= 0)")
        self.connector = connector
        self.max_charge_w = max_charge_w
        self.max_discharge_w = max_discharge_w  # rated: what export may reach when metered
        self.metrics = metrics
        self.power_w = 0.0
        self.import_wh: float | None = None
        self.export_wh: float | None = None
        self.grid_hz: float | None = None
        self.grid_v: float | None = None
        self.export_allowed = False  # the poller starts with "no meter reading yet"
        self.lost = False

    def feed(self, ev: mp.Event) -> dict[str, Any] | None:
        """Take one poller event; the telemetry fields to record, or None."""
        if self.metrics is not None:
            self.metrics.meter_event(self.connector, ev)
        if isinstance(ev, mp.ReadingTaken):
            v = ev.values
            self.power_w = v.get("power_total", self.power_w)
            # an energy the poller did not accept is absent from `values`: keep the last
            # accepted one rather than send a flagged value as fact
            self.import_wh = v.get("import_wh", self.import_wh)
            self.export_wh = v.get("export_wh", self.export_wh)
            self.grid_hz = v.get("frequency", self.grid_hz)
            self.grid_v = v.get("voltage_l1", self.grid_v)
        elif isinstance(ev, mp.ExportPermissionChanged):
            self.export_allowed = ev.allowed
        elif isinstance(ev, mp.MeterLost):
            self.lost, self.export_allowed = True, False
        elif isinstance(ev, mp.MeterRestored):
            self.lost = False
        else:
            return None
        return self.fields()

    def fields(self) -> dict[str, Any]:
        """`ChargerLink.record` keyword arguments for the present state."""
        metered = self.export_allowed and not self.lost
        return {
            "power_w": self.power_w,
            "max_charge_w": self.max_charge_w,
            "max_discharge_w": self.max_discharge_w if metered else 0.0,
            "energy_import_wh": None if self.lost else self.import_wh,
            "energy_export_wh": None if self.lost else self.export_wh,
            "grid_hz": None if self.lost else self.grid_hz,
            "grid_v": None if self.lost else self.grid_v,
            "faults": (METER_LOST_FAULT,) if self.lost else (),
        }
