# firmware-vm
"""Plant.inject: the bench console's faults start at once, through the same plant
parameters a scenario schedules, and are logged as a scheduled one is."""

from firmware.link import messages as m
from firmware.sim.plant import OVERTEMP_DC, Plant


def _charging():
    log = []
    p = Plant({"plug_ms": 0, "charge_ms": 60000}, 0, lambda name, at: log.append((name, at)))
    p.set_pilot(m.PILOT_PWM, 2666)
    p.set_coil(True, 0)
    t = 0
    while t < 1500:
        t += 10
        p.step(t)
    assert p.phase == 2 and p.current_ma > 0  # CHARGING
    return p, t, log


def test_rcd_trip_injected_now_fires_at_the_next_step_and_is_logged():
    p, t, log = _charging()
    assert not p.rcd_fault()
    assert p.inject("rcd-trip", t)
    p.step(t + 10)
    assert p.rcd_fault()
    assert ("rcd-trip", t) in log  # at the time it was asked for, as scheduled ones are


def test_diode_short_and_estop_injected():
    p, t, _ = _charging()
    assert p.inject("diode-short", t) and p.inject("estop", t)
    p.step(t + 10)
    assert p.estop
    high, low = p.cp_levels()
    assert low == -high  # no diode: the low plateau mirrors the high one


def test_weld_injected_welds_at_the_next_opening():
    p, t, log = _charging()
    assert p.inject("weld", t)
    p.set_coil(False, t + 10)
    assert p.feedback(t + 500)  # the aux contact still says closed
    assert ("weld", t + 10) in log


def test_overtemp_heats_the_connector_past_the_limit_within_a_second():
    p, t, _ = _charging()
    assert p.temp_dc == 250
    assert p.inject("overtemp", t)
    p.step(t + 500)
    assert 250 < p.temp_dc < OVERTEMP_DC
    p.step(t + 1100)
    assert p.temp_dc == OVERTEMP_DC


def test_heal_takes_every_injected_cause_away_and_unknown_names_are_refused():
    p, t, _ = _charging()
    p.inject("rcd-trip", t)
    p.inject("estop", t)
    p.step(t + 10)
    assert p.inject("heal", t + 20)
    p.step(t + 30)
    assert not p.rcd_fault() and not p.estop
    assert not p.inject("meteor", t + 40)
