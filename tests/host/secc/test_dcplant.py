"""The one DC plant model (host/bench/dcplant.py) and the simulated EvseController on it:
PreCharge ramp, isolation classes, current rate limit and clamps, discharge, energy."""

from __future__ import annotations

import pytest

from host.bench.dcplant import Battery, DcPlant, Insulation, StageLimits
from host.secc.controller import Decision, SimEvseController


def test_precharge_ramps_at_the_stage_rate_and_stops_at_the_target():
    plant = DcPlant(StageLimits(voltage_ramp=200.0))
    plant.set_voltage(350.0, 0.0)
    plant.advance(1.0)
    assert plant.output_voltage == pytest.approx(200.0)
    plant.advance(5.0)
    assert plant.output_voltage == pytest.approx(350.0)
    assert plant.current == 0.0  # contactors open: no current flows


def test_precharge_target_is_clamped_to_the_stage_maximum():
    plant = DcPlant(StageLimits(max_voltage=400.0))
    plant.set_voltage(900.0, 0.0)
    plant.advance(10.0)
    assert plant.output_voltage == pytest.approx(400.0)


@pytest.mark.parametrize(("ohm", "expected"), [
    (1e7, Insulation.VALID),  # 20 kohm/V at 500 V
    (100_000, Insulation.WARNING),  # 200 ohm/V
    (10_000, Insulation.FAULT),  # 20 ohm/V
])
def test_isolation_check_takes_its_time_then_classifies(ohm, expected):
    plant = DcPlant(insulation_ohm=ohm, isolation_time=2.0)
    assert plant.isolation_result(0.0) is None  # never started
    plant.start_isolation_check(0.0)
    assert plant.isolation_result(1.99) is None
    assert plant.isolation_result(2.0) is expected


def _charging_plant(**limits) -> DcPlant:
    plant = DcPlant(StageLimits(**limits), Battery(soc=0.5))
    plant.set_voltage(plant.battery.open_circuit_voltage(), 0.0)
    plant.advance(5.0)
    plant.close_contactors(5.0)
    return plant


def test_current_follows_the_target_at_the_rate_limit():
    plant = _charging_plant(current_ramp=100.0)
    plant.set_current(80.0, 5.0)
    plant.advance(5.5)
    assert plant.current == pytest.approx(50.0)
    plant.advance(7.0)
    assert plant.current == pytest.approx(80.0)
    # terminal voltage rises with the current through battery and cable resistance
    ocv = plant.battery.open_circuit_voltage()
    assert plant.output_voltage == pytest.approx(ocv + 80.0 * 0.06, abs=0.01)


def test_current_is_clamped_by_current_and_power_limits():
    plant = _charging_plant(max_current=200.0, max_power=20_000.0, current_ramp=1e4)
    plant.set_current(150.0, 5.0)
    plant.advance(6.0)
    assert plant.current * plant.output_voltage == pytest.approx(20_000.0, rel=0.02)


def test_a_unidirectional_stage_does_not_discharge():
    plant = _charging_plant(current_ramp=1e4)
    plant.set_current(-50.0, 5.0)
    plant.advance(6.0)
    assert plant.current == 0.0


def test_discharge_takes_energy_out_of_the_battery():
    plant = _charging_plant(max_discharge_current=100.0, current_ramp=1e4)
    soc = plant.battery.soc
    plant.set_current(-60.0, 5.0)
    plant.advance(65.0)
    assert plant.current == pytest.approx(-60.0)
    assert plant.energy_out_wh == pytest.approx(60.0 * plant.output_voltage / 60, rel=0.02)
    assert plant.energy_in_wh == 0.0
    assert plant.battery.soc < soc


def test_charging_raises_soc_by_the_energy_delivered():
    plant = _charging_plant(current_ramp=1e4)
    soc = plant.battery.soc
    plant.set_current(100.0, 5.0)
    plant.advance(365.0)
    gained_wh = (plant.battery.soc - soc) * plant.battery.capacity_wh
    # the battery gets what went in minus the cable's loss
    assert gained_wh == pytest.approx(plant.energy_in_wh, rel=0.01)
    assert gained_wh < plant.energy_in_wh


def test_output_bleeds_down_after_switch_off():
    plant = _charging_plant(bleed_rate=100.0)
    plant.open_contactors(5.0)
    plant.switch_off(5.0)
    start = plant.output_voltage
    plant.advance(6.0)
    assert plant.output_voltage == pytest.approx(start - 100.0)
    plant.advance(20.0)
    assert plant.output_voltage == 0.0


def test_sim_controller_authorizes_after_its_delay_and_meters_signed_energy():
    plant = _charging_plant(max_discharge_current=50.0, current_ramp=1e4)
    ctrl = SimEvseController(plant, authorize_after=3.0)
    assert ctrl.authorize("ev", 10.0) is Decision.ONGOING
    assert ctrl.authorize("ev", 12.9) is Decision.ONGOING
    assert ctrl.authorize("ev", 13.0) is Decision.ACCEPTED
    ctrl.request_current(50.0, 400.0, 5.0)
    before = ctrl.meter_wh(65.0)
    ctrl.request_current(-50.0, 400.0, 65.0)
    after = ctrl.meter_wh(125.0)
    assert before > 0 and after < before
    ctrl.session_ended("test", 125.0)
    assert not plant.contactors_closed and not plant.energised


def test_a_plant_at_rest_jumps_to_the_time_asked(monkeypatch):
    """A fresh plant first driven on a monotonic clock (days of uptime) must not step
    through all of it: the SECC's first answer waited for millions of steps."""
    plant = DcPlant()
    steps = []
    monkeypatch.setattr(plant, "_step", lambda dt: steps.append(dt))
    plant.advance(500_000.0)
    assert steps == [] and plant.now == 500_000.0
    plant.set_voltage(350.0, 500_000.0)
    plant.advance(500_001.0)
    assert sum(steps) == pytest.approx(1.0) and len(steps) >= 10  # energised: stepped


def test_the_host_records_are_the_cores_fields_with_its_defaults():
    """One model: the typed host face adds no field and changes no default."""
    import dataclasses

    from firmware.sim import dcplant as core

    for cls, base in ((StageLimits, core.StageLimits), (Battery, core.Battery)):
        assert {f.name: f.default for f in dataclasses.fields(cls)} == vars(base())
    assert issubclass(DcPlant, core.DcPlant)
    assert {i.value for i in Insulation} == {core.VALID, core.WARNING, core.FAULT}
