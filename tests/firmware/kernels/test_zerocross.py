# firmware-vm
"""The zero-crossing kernel: exact interpolation on an identity filter, the edge cases,
and the viper kernel against its plain twin on the same samples (under MicroPython;
on CPython there is no viper and the twin is what runs)."""

from array import array

from firmware.app.gridsync import GridSync
from firmware.kernels import zerocross as zc
from firmware.sim.grid import THD5, GridModel
from tests.firmware.vmcheck import viper_only


def _identity(samples, hyst=100, cap=8, ring_bits=5):
    """A kernel state whose filter passes the samples through (L1 = L2 = L3 = 1)."""
    n = 1 << ring_bits
    ring = array("H", [2048] * n)
    for i, x in enumerate(samples):
        ring[i] = x
    st = array("i", [0] * zc.NSTATE)
    st[zc.MASK] = n - 1
    st[zc.L1] = st[zc.L2] = st[zc.L3] = 1
    st[zc.ZERO] = 2048
    st[zc.HYST] = hyst
    for i in (zc.A0, zc.A2, zc.A3, zc.A23, zc.B0, zc.B3, zc.C, zc.PREV):
        st[i] = 2048
    st[zc.CAP] = cap
    st[zc.BIAS] = 2048
    # the ring's last slot precedes sample 0: it must hold the initial level too
    return ring, st, array("i", [0] * (zc.REC * cap))


def _both(ring, st, out, count):
    """Run the twin, and the viper kernel on copies; they must agree word for word."""
    st[zc.COUNT] = count
    st2 = array("i", st)
    out2 = array("i", out)
    found = zc.scan_twin(ring, st, out)
    if zc.scan_viper is not None:
        found2 = zc.scan_viper(ring, st2, out2)
        assert found2 == found, (found2, found)
        assert list(st2) == list(st), (list(st2), list(st))
        assert list(out2) == list(out)
    return found


def test_interpolates_a_crossing_to_a_256th():
    ring, st, out = _identity([1000, 1500, 2500, 3000])
    assert _both(ring, st, out, 4) == 1
    # between samples 1 and 2: 1 + (2048 - 1500) / 1000 = 1.548 -> (2 << 8) + 140
    assert out[0] == (2 << 8) + 140 and out[1] == 1


def test_a_sample_exactly_at_zero_is_the_crossing():
    ring, st, out = _identity([1000, 2048, 3000, 1000])
    assert _both(ring, st, out, 4) == 2
    assert out[0] == (1 << 8) + 256  # j - 1 + 256/256 = sample 1 itself
    assert out[4] == (3 << 8) + (952 << 8) // 2000 and out[5] == 0


def test_hysteresis_and_arming():
    # rises without first going below zero - hyst: no rising crossing; a wobble around
    # zero smaller than the band gives nothing either
    ring, st, out = _identity([2000, 2100, 2000, 2100, 2000, 2100])
    assert _both(ring, st, out, 6) == 0
    ring, st, out = _identity([1000, 2100, 2000, 2100, 2000, 3000, 1000])
    assert _both(ring, st, out, 7) == 2  # one rising, then one falling at the end
    assert out[1] == 1 and out[5] == 0


def test_nothing_to_do_and_flat_input():
    ring, st, out = _identity([2048] * 16)
    before = list(st)
    assert _both(ring, st, out, 0) == 0
    assert list(st) == before
    assert _both(ring, st, out, 16) == 0


def test_more_crossings_than_room_are_counted_not_stored():
    ring, st, out = _identity([0, 4095] * 8, cap=3)
    found = _both(ring, st, out, 16)
    assert found == 15 and len(out) == 3 * zc.REC


def test_sum_and_energy_accumulate_mod_2_30():
    ring, st, out = _identity([4095, 0] * 8)
    st[zc.SUM] = zc.ACC_MASK - 10
    st[zc.ENERGY] = zc.ACC_MASK - 10
    _both(ring, st, out, 16)
    assert 0 <= st[zc.SUM] <= zc.ACC_MASK and 0 <= st[zc.ENERGY] <= zc.ACC_MASK
    assert st[zc.ENERGY] == (zc.ACC_MASK - 10 + 8 * ((2047 * 2047) >> 2) + 8 * ((2048 * 2048) >> 2)) & zc.ACC_MASK


def test_viper_equals_twin_on_grid_samples_in_odd_blocks():
    for fs, f_nom in ((10000, 60), (1000, 50)):
        gs = GridSync(fs, f_nom)
        g = GridModel(fs, f_nom, f0=f_nom - 1.7, harmonics=THD5, dc=-60, seed=fs)
        g.sag(0.05, 0.09, 0.5).jump(0.11, 30)
        ring, st, out = gs.ring, array("i", gs.st), array("i", gs.out)
        w = 0
        total = 0
        sizes = (1, 7, 100, gs.max_block, 3, 250, gs.max_block)
        for count in sizes:
            w = g.fill(ring, w, count, gs.mask)
            total += _both(ring, st, out, count)
        assert total > 4


def test_square_wave_full_scale():
    gs = GridSync(4000, 50)
    ring, st, out = gs.ring, array("i", gs.st), array("i", gs.out)
    w = 0
    found = 0
    for k in range(12):
        for _ in range(40):
            ring[w] = 4095 if (k & 1) else 0
            w = (w + 1) & gs.mask
        found += _both(ring, st, out, 40)
    assert found >= 10


def test_viper_equals_twin_on_random_samples():
    viper_only("the viper zero-crossing kernel against its twin")
    x = 99
    for hyst in (0, 30, 3000):
        ring, st, out = _identity([], hyst=hyst, cap=6, ring_bits=6)
        gs = GridSync(2000, 60)
        ring2, st2, out2 = gs.ring, array("i", gs.st), array("i", gs.out)
        w = 0
        for count in (5, 17, 1, 40, 33, 60):
            for _ in range(count):
                x = (x * 1103515245 + 12345) & 0x7FFFFFFF
                ring[w & 63] = ring2[w & gs.mask] = (x >> 8) & 4095
                w += 1
            _both(ring, st, out, count)
            _both(ring2, st2, out2, count)


def test_viper_equals_twin_on_random_rings_with_every_crossing_trim():
    """The trim at a crossing (st[EXC], the part of the latest sample past it, or of
    the next one) on random rings, for both delays GridSync sets and for odd ones."""
    x = 12345
    for fs, f_nom in ((1000, 50), (2000, 60), (1000, 60), (10000, 50)):
        own = GridSync(fs, f_nom).st
        for exc, dly in ((own[zc.EXC], own[zc.DLY]), (128, 1), (256, 3), (0, 2)):
            gs = GridSync(fs, f_nom)  # a fresh ring: the sums match its contents
            ring, st, out = gs.ring, array("i", gs.st), array("i", gs.out)
            st[zc.EXC] = exc
            st[zc.DLY] = dly
            st[zc.HYST] = 0
            w = 0
            found = 0
            for count in (3, fs // 20 + 1, 1, fs // 12 + 1, fs // 16):  # 200 ms, <= max_block
                for _ in range(count):
                    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
                    # random, on a square wave at f_nom so that the filter crosses
                    ring[w & gs.mask] = ((x >> 9) & 1023) + (3000 if (w * 2 * f_nom // fs) & 1 else 0)
                    w += 1
                found += _both(ring, st, out, count)
                for v in out:
                    assert -(1 << 30) <= v < (1 << 30)
            assert found > 10
