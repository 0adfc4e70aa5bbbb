# firmware-vm
"""The sim plant's manual override switch: it disconnects the EV by itself at
`override_ms` (the current stops whatever the coil does) and its auxiliary contact
reads overridden from then on, through the sim HAL as on a board."""

from firmware.link import messages as m
from firmware.sim.plant import Plant


def _charging(params):
    log = []
    p = Plant(params, 0, lambda name, at: log.append((name, at)))
    p.set_pilot(m.PILOT_PWM, 2666)
    p.set_coil(True, 0)
    t = 0
    while t < 1500:
        t += 10
        p.step(t)
    assert p.phase == 2 and p.current_ma > 0  # CHARGING
    return p, t, log


def test_override_switch_cuts_the_current_and_reads_overridden():
    p, t, log = _charging({"override_ms": 2000, "charge_ms": 60000})
    assert not p.override
    while t < 2000:
        t += 10
        p.step(t)
    assert p.override and p.coil  # the switch, not the coil
    assert p.current_ma == 0
    assert ("override", 2000) in log


def test_without_override_the_plant_keeps_charging():
    p, t, _log = _charging({"charge_ms": 60000})
    while t < 3000:
        t += 10
        p.step(t)
    assert not p.override and p.current_ma > 0


def test_sim_hal_reads_the_switch():
    import boards
    from firmware.hal.sim import SimHal

    hal = SimHal(boards.load("sim"), {"override_ms": 0}, log=lambda name, at: None)
    hal.plant.step(hal.plant.t0 + 10)
    assert hal.manual_override() is True


def _run(p, t, until):
    while t < until:
        t += 10
        p.step(t)
    return t


def test_digital_ev_takes_5_percent_as_its_offer_and_draws_its_own_current():
    # an ISO 15118 EV: 5 % is digital communication, not 3 A; 16 A duty is no offer to it
    p = Plant({"digital": True, "digital_da": 100, "plug_ms": 0, "charge_ms": 60000}, 0)
    p.set_pilot(m.PILOT_PWM, 2666)
    t = _run(p, 0, 1000)
    assert p.phase == 1  # CONNECTED: S2 open
    p.set_pilot(m.PILOT_PWM, 500)
    t = _run(p, t, 1500)
    assert p.phase == 2 and p.current_ma == 0  # S2 closed, no contactor yet
    p.set_coil(True, t)
    t = _run(p, t, 2500)
    assert 9000 < p.current_ma <= 10000  # digital_da (ramping), not current_for_duty(5 %) = 0
    p.set_pilot(m.PILOT_X1, 10000)  # the EVSE ends its offer: the EV stops
    p.set_coil(False, t)
    t = _run(p, t, 4000)
    assert p.phase == 4  # GONE: unplugged


def test_analogue_ev_ignores_5_percent():
    p = Plant({"plug_ms": 0}, 0)
    p.set_pilot(m.PILOT_PWM, 500)
    _run(p, 0, 1500)
    assert p.phase == 1
