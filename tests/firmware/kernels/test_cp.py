# firmware-vm
"""The viper CP kernels agree with their plain twins, burst by burst.

On MicroPython `classify_burst` is the viper function; on CPython both names are the
twin, so the agreement is checked on MicroPython only and the twin's answers on both.
"""

import sys
from array import array

from firmware.hal.base import CP_BURST
from firmware.kernels import cp
from firmware.link import messages as m
from tests.firmware.vmcheck import SIM_CAL, viper_only

BANDS = cp.make_bands(SIM_CAL, 4095)


def _burst(values):
    return array("H", values)


def _lcg_bursts(count, seed=1):
    x = seed
    out = []
    for _ in range(count):
        vals = []
        base = None
        for _ in range(CP_BURST):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            if base is None:
                base = (x >> 8) % 4096
            # mostly tight bursts around one level, sometimes a stray sample
            v = base + ((x >> 4) % 7) - 3 if (x >> 20) % 8 else (x >> 9) % 4096
            vals.append(min(max(v, 0), 4095))
        out.append(_burst(vals))
    return out


def test_each_runtime_runs_its_kernel():
    twins = (cp.classify_burst is cp.classify_burst_py, cp.all_at_most is cp.all_at_most_py)
    if sys.implementation.name == "micropython":
        assert twins == (False, False)  # the viper kernels
    else:
        assert twins == (True, True)


def test_agree_on_random_bursts():
    viper_only("viper CP kernels against their twins")
    for buf in _lcg_bursts(400):
        want = cp.classify_burst_py(buf, CP_BURST, BANDS)
        assert cp.classify_burst(buf, CP_BURST, BANDS) == want, list(buf)
        for limit in (0, 187, 2048, 4095):
            assert cp.all_at_most(buf, CP_BURST, limit) == cp.all_at_most_py(buf, CP_BURST, limit)


def test_band_edges():
    for k in range(6):
        lo = BANDS[2 * k]
        hi = BANDS[2 * k + 1]
        for v, want in ((lo, k + 1), (hi, k + 1)):
            buf = _burst([v] * CP_BURST)
            assert cp.classify_burst_py(buf, CP_BURST, BANDS) == want, (k, v)
            assert cp.classify_burst(buf, CP_BURST, BANDS) == want, (k, v)
        if lo > 0:
            buf = _burst([lo - 1] * CP_BURST)
            got = cp.classify_burst(buf, CP_BURST, BANDS)
            assert got == cp.classify_burst_py(buf, CP_BURST, BANDS)
            assert got != k + 1


def test_levels_map_to_states():
    for mv, state in ((12000, m.CP_A), (9000, m.CP_B), (6000, m.CP_C), (3000, m.CP_D),
                      (0, m.CP_E), (-12000, m.CP_F), (7500, 0)):
        buf = _burst([cp.mv_to_counts(mv, SIM_CAL)] * CP_BURST)
        assert cp.classify_burst(buf, CP_BURST, BANDS) == state, mv


def test_disagreeing_burst_is_unknown():
    b = cp.mv_to_counts(9000, SIM_CAL)
    c = cp.mv_to_counts(6000, SIM_CAL)
    buf = _burst([b] * (CP_BURST - 1) + [c])
    assert cp.classify_burst(buf, CP_BURST, BANDS) == 0
    assert cp.classify_burst_py(buf, CP_BURST, BANDS) == 0
