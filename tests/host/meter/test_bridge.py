"""The meter bridge on the real poller and fake time: metrics and fleet telemetry records."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from host.fleet.charger import ChargerLink
from host.fleet.mqtt import Broker
from host.fleet.outbox import Outbox
from host.fleet.topics import decode_telemetry
from host.meter.bridge import METER_LOST_FAULT, MeterBridge
from host.meter.maps import ABB_B23
from host.meter.poller import MeterPoller, ReadingFlagged
from host.meter.sim import SimulatedMeter
from host.telemetry.metrics import StationMetrics

from .helpers import Clock, of, run_cycle

pytestmark = pytest.mark.unit


def setup(tmp_path: Path):
    clock = Clock()
    meter = SimulatedMeter(ABB_B23, clock=clock)
    meter.import_wh, meter.export_wh, meter.power_w = 1_000_000.0, 50_000.0, -7_000.0
    poller = MeterPoller(meter.map, clock.t, site_unit=2, interval=1.0, timeout=0.5,
                         retries=2, rated_power_w=11_000.0)
    metrics = StationMetrics()
    bridge = MeterBridge("1", max_charge_w=11_000.0, max_discharge_w=10_000.0,
                         metrics=metrics)
    link = ChargerLink("c1", "f1", Outbox(tmp_path / "out.db"), Broker(), clock=clock)
    return poller, meter, clock, bridge, link, metrics


def cycle(poller, meter, clock, bridge, link, fail=None) -> list:
    """One poll cycle; every record the bridge asks for goes into the charger's outbox."""
    for ev in run_cycle(poller, meter, clock, fail):
        fields = bridge.feed(ev)
        if fields is not None:
            link.record(**fields)
    return [decode_telemetry(p) for _, _, p in link.outbox.pending("c1", 1000)]


def test_readings_reach_metrics_and_telemetry_with_export_while_metered(tmp_path) -> None:
    poller, meter, clock, bridge, link, metrics = setup(tmp_path)
    records = cycle(poller, meter, clock, bridge, link)
    last = records[-1]
    assert last.power_w == pytest.approx(-7_000.0, abs=1)
    assert last.energy_import_wh == pytest.approx(1_000_000.0, abs=10)
    assert last.energy_export_wh == pytest.approx(50_000.0, abs=10)
    assert last.grid_hz == pytest.approx(meter.frequency, abs=0.01)
    assert last.max_discharge_w == 10_000.0 and last.max_charge_w == 11_000.0
    assert last.faults == ()
    text = generate_latest(metrics.registry).decode()
    assert 'v2gate_connector_export_allowed{connector="1"} 1.0' in text
    assert 'v2gate_connector_power_watts{connector="1"} -7' in text


def test_no_export_before_the_first_reading_or_when_the_site_disables_it(tmp_path) -> None:
    poller, meter, clock, bridge, link, _ = setup(tmp_path)
    assert bridge.fields()["max_discharge_w"] == 0.0  # nothing read yet
    cycle(poller, meter, clock, bridge, link)
    meter.site_export_enabled = False
    records = cycle(poller, meter, clock, bridge, link)
    assert records[-1].max_discharge_w == 0.0
    assert records[-1].energy_export_wh is not None  # the meter itself still answers


def test_a_lost_meter_sends_no_energy_as_fact_and_no_discharge(tmp_path) -> None:
    poller, meter, clock, bridge, link, metrics = setup(tmp_path)
    cycle(poller, meter, clock, bridge, link)
    records = cycle(poller, meter, clock, bridge, link, fail={"meter"})
    last = records[-1]
    assert last.max_discharge_w == 0.0 and last.faults == (METER_LOST_FAULT,)
    assert last.energy_import_wh is None and last.energy_export_wh is None
    assert 'v2gate_faults_total{kind="meter_lost"} 1.0' in generate_latest(
        metrics.registry).decode()
    records = cycle(poller, meter, clock, bridge, link)  # it answers again
    assert records[-1].faults == () and records[-1].max_discharge_w == 10_000.0


def test_a_flagged_energy_is_not_sent_the_last_accepted_one_is(tmp_path) -> None:
    poller, meter, clock, bridge, link, _ = setup(tmp_path)
    cycle(poller, meter, clock, bridge, link)
    meter.export_wh -= 5_000.0  # goes backwards
    events = run_cycle(poller, meter, clock)
    assert of(events, ReadingFlagged)
    for ev in events:
        bridge.feed(ev)
    f = bridge.fields()
    assert f["energy_export_wh"] == pytest.approx(50_000.0, abs=10)
    assert f["max_discharge_w"] == 0.0  # a flagged register stops export


def test_negative_ratings_are_refused() -> None:
    with pytest.raises(ValueError, match="magnitudes"):
        MeterBridge("1", max_charge_w=1.0, max_discharge_w=-1.0)
