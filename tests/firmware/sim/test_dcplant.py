# firmware-vm
"""The one DC plant's core (firmware/sim/dcplant.py) on both runtimes: the same model
the host's ISO 15118 sessions use (tests/host/secc/test_dcplant.py checks it through
the host's typed face), here as the firmware's sim-dc board runs it."""

from firmware.sim import dcplant as core


def _near(a, b, tol=0.01):
    return abs(a - b) <= tol


def test_precharge_ramps_then_close_follows_the_current_target():
    p = core.DcPlant(core.StageLimits(voltage_ramp=200.0, current_ramp=100.0),
                     core.Battery(soc=0.5))
    ocv = p.battery.open_circuit_voltage()
    assert _near(ocv, 365.0)
    p.set_voltage(ocv, 0.0)
    p.advance(1.0)
    assert _near(p.output_voltage, 200.0) and p.current == 0.0
    p.advance(3.0)
    assert _near(p.output_voltage, ocv)
    p.close_contactors(3.0)
    p.set_current(80.0, 3.0)
    p.advance(3.5)
    assert _near(p.current, 50.0)
    p.advance(5.0)
    assert _near(p.current, 80.0)
    # battery and cable resistance on top of the (now higher) open-circuit voltage
    assert _near(p.output_voltage, p.battery.open_circuit_voltage() + 80.0 * 0.06)
    assert p.energy_in_wh > 0 and p.battery.soc > 0.5


def test_discharge_needs_a_bidirectional_stage():
    p = core.DcPlant(core.StageLimits(current_ramp=1e4), core.Battery(soc=0.5))
    p.energised = True
    p.close_contactors(0.0)
    p.set_current(-50.0, 0.0)
    p.advance(1.0)
    assert p.current == 0.0
    p = core.DcPlant(core.StageLimits(current_ramp=1e4, max_discharge_current=60.0))
    p.energised = True
    p.close_contactors(0.0)
    p.set_current(-50.0, 0.0)
    p.advance(2.0)
    assert _near(p.current, -50.0) and p.energy_out_wh > 0 and p.energy_in_wh == 0


def test_isolation_classes_and_their_time():
    for ohm, expected in ((1e7, core.VALID), (100000, core.WARNING), (10000, core.FAULT)):
        p = core.DcPlant(insulation_ohm=ohm, isolation_time=2.0)
        assert p.insulation_class(0.0) is None
        p.start_isolation_check(0.0)
        assert p.insulation_class(1.9) is None
        assert p.insulation_class(2.0) == expected
        assert p.output_voltage > 300  # the test voltage shows on the output


def test_bleeds_down_after_opening_unless_welded():
    for welded in (False, True):
        p = core.DcPlant(core.StageLimits(bleed_rate=400.0), core.Battery(soc=0.5))
        p.set_voltage(365.0, 0.0)
        p.advance(3.0)
        p.close_contactors(3.0)
        p.welded = welded
        p.open_contactors(3.0)
        p.switch_off(3.0)
        p.advance(4.0)  # IEC 61851-23: below 60 V within 1 s of opening
        if welded:
            assert p.contactors_closed and _near(p.output_voltage, 365.0)
        else:
            assert not p.contactors_closed and p.output_voltage < 60.0


def test_unknown_field_is_refused():
    try:
        core.StageLimits(max_volts=1.0)
    except TypeError:
        return
    raise AssertionError("StageLimits took an unknown field")  # a misspelt limit is no default
