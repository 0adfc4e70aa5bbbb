"""Control-pilot burst classification: a viper kernel and its plain-Python twin.

`classify_burst(buf, n, bands)` looks at n raw ADC counts of one plateau and returns
the CP state (CP_A..CP_F = 1..6) only when every sample falls in the same band, else
0 (unknown: the caller keeps its last state). `bands` is an array('H') of 12 counts,
(lo, hi) for A, B, C, D, E, F in that order, computed once at boot from the board's
calibration by `make_bands`. `all_at_most(buf, n, limit)` is the diode check: every
low-plateau sample at or below `limit` counts.

On MicroPython the viper versions run; elsewhere the twins do. Both must agree on
every burst (tests/firmware/kernels/test_cp.py).
"""

import sys
from array import array

from firmware.hal.base import mv_to_counts

_VIPER = sys.implementation.name == "micropython"
if _VIPER:
    import micropython

# nominal levels of A..F (IEC 61851-1 Table A.4) and the +-1.1 V acceptance band
_NOMINAL_MV = (12000, 9000, 6000, 3000, 0, -12000)
BAND_MV = 1100


def make_bands(cal, adc_max):
    bands = array("H", [0] * 12)
    for i in range(6):
        lo = mv_to_counts(_NOMINAL_MV[i] - BAND_MV, cal)
        hi = mv_to_counts(_NOMINAL_MV[i] + BAND_MV, cal)
        bands[2 * i] = min(max(lo, 0), adc_max)
        bands[2 * i + 1] = min(max(hi, 0), adc_max)
    return bands


def classify_burst_py(buf, n, bands):
    state = 0
    for i in range(n):
        v = buf[i]
        s = 0
        for b in range(6):
            if bands[2 * b] <= v <= bands[2 * b + 1]:
                s = b + 1
                break
        if s == 0 or (state and s != state):
            return 0
        state = s
    return state


def all_at_most_py(buf, n, limit):
    for i in range(n):
        if buf[i] > limit:
            return 0
    return 1


if _VIPER:

    @micropython.viper
    def classify_burst(buf, n: int, bands) -> int:
        p = ptr16(buf)  # noqa: F821 (viper builtin)
        b = ptr16(bands)  # noqa: F821
        state = 0
        i = 0
        while i < n:
            v = p[i]
            s = 0
            k = 0
            while k < 6:
                if b[2 * k] <= v and v <= b[2 * k + 1]:
                    s = k + 1
                    break
                k += 1
            if s == 0:
                return 0
            if state != 0 and s != state:
                return 0
            state = s
            i += 1
        return state

    @micropython.viper
    def all_at_most(buf, n: int, limit: int) -> int:
        p = ptr16(buf)  # noqa: F821
        i = 0
        while i < n:
            if p[i] > limit:
                return 0
            i += 1
        return 1

else:
    classify_burst = classify_burst_py
    all_at_most = all_at_most_py
