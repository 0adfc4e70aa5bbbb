"""Control pilot arithmetic and state bands (IEC 61851-1 Annex A, SAE J1772).

Duty is in 0.01 % steps, current in 0.1 A steps, voltages in mV.
"""

from firmware.compat import const
from firmware.link import messages as m

DUTY_MIN = const(1000)  # 10 % = 6 A
DUTY_MAX = const(9600)  # 96 % = 80 A
DUTY_DIGITAL = const(500)  # 5 %: ISO 15118 communication required

BAND_MV = const(1100)  # +-1.1 V around each nominal level
DIODE_LOW_MAX_MV = const(-10900)  # the low plateau must reach at least this


def duty_for_current(current_da):
    """Duty (0.01 %) that advertises at most `current_da`, clamped to 6..80 A.

    10-85 %: I = duty x 0.6 A; 85-96 %: I = (duty - 64) x 2.5 A. Between 51 A and
    52.5 A no duty fits exactly, so we round down to 85 % (51 A): never advertise more
    than we were allowed.
    """
    if current_da <= 60:
        return DUTY_MIN
    if current_da <= 510:
        return current_da * 100 // 6
    if current_da < 525:
        return 8500
    if current_da >= 800:
        return DUTY_MAX
    return current_da * 4 + 6400


def current_for_duty(duty):
    """Current (0.1 A) an EV may draw at `duty`; 0 outside the charging ranges."""
    if duty < 800 or duty > 9700:
        return 0
    if duty <= 8500:
        return duty * 6 // 100
    return (duty - 6400) // 4


_NOMINAL = ((m.CP_A, 12000), (m.CP_B, 9000), (m.CP_C, 6000), (m.CP_D, 3000), (m.CP_E, 0))


def classify(high_mv, low_mv):
    """CP state from the two plateaus, CP_UNKNOWN between bands."""
    if high_mv <= -12000 + BAND_MV and low_mv <= -12000 + BAND_MV:
        return m.CP_F
    for state, nominal in _NOMINAL:
        if nominal - BAND_MV <= high_mv <= nominal + BAND_MV:
            return state
    return m.CP_UNKNOWN
