# firmware-vm
"""Duty <-> current (IEC 61851-1 Annex A) and CP state bands."""

from firmware.app import pilot
from firmware.link import messages as m


def test_duty_for_current_table():
    table = (
        (0, 1000), (60, 1000), (100, 1666), (160, 2666), (320, 5333), (510, 8500),
        (515, 8500), (525, 8500), (600, 8800), (800, 9600), (1000, 9600),
    )
    for current_da, duty in table:
        assert pilot.duty_for_current(current_da) == duty, current_da


def test_duty_never_advertises_more_than_allowed():
    for current_da in range(60, 801):
        assert pilot.current_for_duty(pilot.duty_for_current(current_da)) <= current_da


def test_current_for_duty():
    assert pilot.current_for_duty(1000) == 60
    assert pilot.current_for_duty(8500) == 510
    assert pilot.current_for_duty(9600) == 800
    assert pilot.current_for_duty(500) == 0  # 5 %: digital communication, no PWM current
    assert pilot.current_for_duty(10000) == 0


def test_classify_bands_and_limits():
    cases = (
        (12000, -12000, m.CP_A), (10900, -12000, m.CP_A), (13100, -12000, m.CP_A),
        (9000, -12000, m.CP_B), (7900, -12000, m.CP_B), (10100, -12000, m.CP_B),
        (6000, -12000, m.CP_C), (4900, -12000, m.CP_C), (7100, -12000, m.CP_C),
        (3000, -12000, m.CP_D), (0, -12000, m.CP_E), (-12000, -12000, m.CP_F),
        (10500, -12000, m.CP_UNKNOWN), (7500, -12000, m.CP_UNKNOWN), (-5000, -5000, m.CP_UNKNOWN),
    )
    for high, low, state in cases:
        assert pilot.classify(high, low) == state, (high, state)
