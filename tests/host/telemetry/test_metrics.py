"""The /metrics endpoint scraped over HTTP on loopback."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from host.meter import poller as mp
from host.telemetry.metrics import StationMetrics

pytestmark = pytest.mark.system


@pytest.fixture
def served() -> Iterator[tuple[StationMetrics, int]]:
    m = StationMetrics()
    server, thread = m.serve(port=0)
    yield m, int(server.server_port)
    server.shutdown()
    thread.join(5)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_station_figures_and_meter_events_reach_a_scrape(served) -> None:
    m, port = served
    m.cp_state.labels("1").state("C")
    m.temperature.labels("contactor").set(41.5)
    m.grid_frequency.set(49.98)
    m.grid_voltage.labels("L1").set(231.2)
    m.link_up.set(1)
    m.link_errors.labels("crc").inc(3)
    m.plc_attenuation.labels("1").set(22.5)
    m.plc_phy_rate.labels("1", "tx").set(9.0)
    values = {"power_total": -7200.0, "import_wh": 1000.0, "export_wh": 5000.0}
    m.meter_event("1", mp.ReadingTaken(values, 1.0))
    m.meter_event("1", mp.ExportPermissionChanged(True, "metered", 1.0))
    m.meter_event("1", mp.ReadingFlagged("export_wh", 5000.0, 4000.0, "backwards", 2.0))
    # a flagged register is left out of the reading: the gauge keeps the accepted value
    m.meter_event("1", mp.ReadingTaken({"power_total": -7100.0, "import_wh": 1000.0}, 2.0))
    m.meter_event("1", mp.ExportPermissionChanged(False, "flagged", 2.0))
    m.meter_event("1", mp.ReadFailed("meter", "timeout", 3.0))
    m.meter_event("1", mp.MeterLost("meter not answering", 3.0))

    got = scrape(port)
    c1 = (("connector", "1"),)
    assert got[("v2gate_connector_power_watts", c1)] == -7100.0
    assert got[("v2gate_connector_energy_export_wh", c1)] == 5000.0
    assert got[("v2gate_connector_export_allowed", c1)] == 0.0
    assert got[("v2gate_connector_cp_state", (("connector", "1"),
                                               ("v2gate_connector_cp_state", "C")))] == 1.0
    assert got[("v2gate_temperature_celsius", (("sensor", "contactor"),))] == 41.5
    assert got[("v2gate_grid_frequency_hertz", ())] == 49.98
    assert got[("v2gate_grid_voltage_volts", (("phase", "L1"),))] == 231.2
    assert got[("v2gate_link_errors_total", (("kind", "crc"),))] == 3.0
    assert got[("v2gate_link_up", ())] == 1.0
    assert got[("v2gate_plc_attenuation_db", c1)] == 22.5
    assert got[("v2gate_plc_phy_rate_mbps", (("connector", "1"), ("direction", "tx")))] == 9.0
    assert got[("v2gate_meter_read_failures_total", c1)] == 1.0
    assert got[("v2gate_meter_energy_flagged_total", (("connector", "1"), ("reason", "backwards"),
                                                      ("register", "export_wh")))] == 1.0
    assert got[("v2gate_faults_total", (("kind", "meter_lost"),))] == 1.0


def test_two_stations_keep_their_own_registries() -> None:
    a, b = StationMetrics(), StationMetrics()
    a.grid_frequency.set(50.0)
    b.grid_frequency.set(60.0)
    assert a.registry.get_sample_value("v2gate_grid_frequency_hertz") == 50.0
    assert b.registry.get_sample_value("v2gate_grid_frequency_hertz") == 60.0
