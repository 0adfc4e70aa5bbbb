"""The station's Prometheus metrics and their /metrics endpoint (prometheus-client).

The station feeds this module; it never reads hardware itself. Each station gets its own
registry, so two stations in one process (tests, `v2gate simulate`) do not mix.

Energy comes from the meter as absolute register values, set only when the poller has
accepted them (host.meter.poller), so they are gauges: a counter can only be incremented
and would have to invent the first value.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, start_http_server

from host.meter import poller as mp
from host.slac.linkquality import LinkQuality

CP_STATES = ["A", "B", "C", "D", "E", "F"]     # IEC 61851-1


class StationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        c = ["connector"]
        self.power = Gauge("v2gate_connector_power_watts",
                           "Active power at the connector's meter; negative is export", c,
                           registry=r)
        self.energy_import = Gauge("v2gate_connector_energy_import_wh",
                                   "Meter import register, last accepted value", c,
                                   registry=r)
        self.energy_export = Gauge("v2gate_connector_energy_export_wh",
                                   "Meter export register, last accepted value", c,
                                   registry=r)
        self.cp_state = Enum("v2gate_connector_cp_state", "Control pilot state", c,
                             states=CP_STATES, registry=r)
        self.export_allowed = Gauge("v2gate_connector_export_allowed",
                                    "1 when export is metered and the site allows it", c,
                                    registry=r)
        self.meter_failures = Counter("v2gate_meter_read_failures",
                                      "Meter reads that failed after their retries", c,
                                      registry=r)
        self.meter_flagged = Counter("v2gate_meter_energy_flagged",
                                     "Energy readings flagged (backwards or jump)",
                                     c + ["register", "reason"], registry=r)
        self.signed = Counter("v2gate_meter_signed_values",
                              "OCMF records read, by outcome", c + ["outcome"], registry=r)
        self.temperature = Gauge("v2gate_temperature_celsius", "Temperatures", ["sensor"],
                                 registry=r)
        self.grid_frequency = Gauge("v2gate_grid_frequency_hertz", "Grid frequency",
                                    registry=r)
        self.grid_voltage = Gauge("v2gate_grid_voltage_volts", "Grid voltage, line to neutral",
                                  ["phase"], registry=r)
        self.link_up = Gauge("v2gate_link_up", "1 while the firmware link is alive",
                             registry=r)
        self.link_errors = Counter("v2gate_link_errors", "Link frames rejected, by kind",
                                   ["kind"], registry=r)
        self.faults = Counter("v2gate_faults", "Faults raised, by kind", ["kind"], registry=r)
        # PLC link quality as the modem reports it (Qualcomm vendor MMEs, read by
        # host/slac/linkquality): average attenuation (SLAC's sounding), the PHY rates of
        # VS_NW_INFO and the tone map of VS_TONE_MAP_CHAR (SNR: what its modulations need)
        self.plc_attenuation = Gauge("v2gate_plc_attenuation_db",
                                     "Average attenuation to the EV's modem", c, registry=r)
        self.plc_snr = Gauge("v2gate_plc_snr_db",
                             "Mean SNR the tone map's modulations need (a lower bound)", c,
                             registry=r)
        self.plc_phy_rate = Gauge("v2gate_plc_phy_rate_mbps",
                                  "Average PHY rate to (tx) and from (rx) the EV's modem",
                                  c + ["direction"], registry=r)
        self.plc_bits_per_carrier = Gauge("v2gate_plc_tone_map_bits_per_carrier",
                                          "Mean bits per active carrier of the tone map", c,
                                          registry=r)
        self.plc_carriers = Gauge("v2gate_plc_tone_map_active_carriers",
                                  "Active carriers of the tone map", c, registry=r)

    def meter_event(self, connector: str, ev: mp.Event) -> None:
        """Feed one poller event for `connector`."""
        if isinstance(ev, mp.ReadingTaken):
            v = ev.values
            self.power.labels(connector).set(v["power_total"])
            for name, gauge in (("import_wh", self.energy_import),
                                ("export_wh", self.energy_export)):
                if name in v:
                    gauge.labels(connector).set(v[name])
        elif isinstance(ev, mp.ReadingFlagged):
            self.meter_flagged.labels(connector, ev.name, ev.reason).inc()
        elif isinstance(ev, mp.ReadFailed):
            self.meter_failures.labels(connector).inc()
        elif isinstance(ev, mp.MeterLost):
            self.faults.labels("meter_lost").inc()
        elif isinstance(ev, mp.SignedValueVerified):
            self.signed.labels(connector, "verified").inc()
        elif isinstance(ev, mp.SignedValueRejected):
            self.signed.labels(connector, "rejected").inc()
        elif isinstance(ev, mp.ExportPermissionChanged):
            self.export_allowed.labels(connector).set(1 if ev.allowed else 0)

    def plc_link(self, connector: str, q: LinkQuality) -> None:
        """Feed one link-quality reading. A figure the modem did not give is removed from
        the exposition rather than left at an old value."""
        self.plc_phy_rate.labels(connector, "tx").set(q.tx_mbps)
        self.plc_phy_rate.labels(connector, "rx").set(q.rx_mbps)
        for gauge, value in ((self.plc_attenuation, q.attenuation_db),
                             (self.plc_snr, q.snr_db),
                             (self.plc_bits_per_carrier, q.bits_per_carrier),
                             (self.plc_carriers, q.active_carriers)):
            if value is None:
                try:
                    gauge.remove(connector)
                except KeyError:
                    pass
            else:
                gauge.labels(connector).set(value)

    def serve(self, port: int = 9464, addr: str = "127.0.0.1") -> tuple[WSGIServer,
                                                                       threading.Thread]:
        """Serve /metrics on `addr`:`port` (0: any free port, see server.server_port)
        from a daemon thread; shut down with server.shutdown()."""
        return start_http_server(port, addr=addr, registry=self.registry)
