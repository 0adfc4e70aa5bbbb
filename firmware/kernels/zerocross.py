"""Zero crossings of the grid voltage, with sub-sample interpolation, in fixed point.

`scan(ring, st, out)` walks `st[COUNT]` new samples of a power-of-two ring of 12-bit
ADC samples (a `ptr16` view of an `array('H')`) starting at `st[POS]`, and:

* low-pass filters them with three cascaded running sums (boxcars) of lengths
  L1, L2, L3 = fs / (3, 5, 7 x f_nom). Each boxcar has a zero at the 3rd, 5th, 7th
  harmonic, so the cascade removes most of the odd harmonics and the ADC noise. It
  is a linear-phase FIR: its delay is (L1 + L2 + L3 - 3) / 2 samples at *every*
  frequency, so the caller subtracts a constant and the phase comes out unbiased;
  periods are not affected at all. The sums are computed straight from the raw ring
  at four lags (y1 at 0, L2, L3, L2+L3), so no intermediate ring is needed;
* finds the crossings of the filtered signal through `st[ZERO]` with a hysteresis of
  `st[HYST]` (a crossing only counts after the signal went beyond the band on the
  other side: no chatter, and no crossings at all below that amplitude), and
  interpolates each one linearly between the two samples around it to 1/256 sample;
* accumulates the sum and the sum of squares (>> 2) of the raw samples, delayed by the
  filter's delay so that they line up with the crossings, for DC and RMS per cycle
  and per half cycle. A whole-sample delay cannot end them exactly at a crossing: at
  a crossing the kernel takes off the part of the latest sample that lies beyond it,
  (st[EXC] - frac) / 256 of it (each sample stands for the time from half a sample
  before it to half a sample after), or adds that much of the next one (already in
  the ring: the delay is at least one sample) when the crossing lies beyond the
  latest's half, so that a sum from crossing to crossing is the integral over
  exactly that time. Without this a half cycle at 1 kHz is off by up to
  1 % from one edge sample.

Each crossing goes to `out` as four words: (j << 8) + frac (the crossing lies
between block samples j - 1 and j, at j - 1 + frac / 256), edge (1 rising, 0 falling),
and the sum and energy accumulators at that sample (mod 2**30). The return value is
the number of crossings found (only the first `st[CAP]` are stored).

Everything is non-negative and below 2**30 (small ints on 32-bit ports) as long as
L1 * L2 * L3 * 4095 < 2**30, which `GridSync` checks. `scan_twin` is the same
algorithm in plain Python, line for line on purpose (viper cannot share code with it):
the reference the tests hold the viper kernel to, and what CPython runs.
"""

import sys

from firmware.compat import const

# state words (array('i'), all non-negative)
POS = const(0)  # ring index of the next sample (in/out)
COUNT = const(1)  # samples to process (in)
MASK = const(2)  # ring length - 1
L1 = const(3)
L2 = const(4)
L3 = const(5)
DLY = const(6)  # filter delay in whole samples, for the accumulators
SHIFT = const(7)  # right shift from the filter sum to the compared value
ZERO = const(8)  # zero level (mid-scale) in shifted units
HYST = const(9)  # hysteresis in shifted units
A0 = const(10)  # y1 = sum of L1 samples, at lags 0, L2, L3, L2 + L3
A2 = const(11)
A3 = const(12)
A23 = const(13)
B0 = const(14)  # y2 = sum of L2 y1 values, at lags 0 and L3
B3 = const(15)
C = const(16)  # y3 = sum of L3 y2 values: the filtered signal
PREV = const(17)  # previous filtered sample (shifted)
ARM = const(18)  # bit 0: a rising crossing may come; bit 1: a falling one
SUM = const(19)  # sum of (x - BIAS), mod 2**30
ENERGY = const(20)  # sum of (x - BIAS)**2 >> 2, mod 2**30
CAP = const(21)  # crossings `out` can hold
BIAS = const(22)  # ADC mid-scale
EXC = const(23)  # where the accumulators end past a crossing at frac 0, 1/256 sample
NSTATE = const(24)

REC = const(4)  # words per crossing in `out`
ACC_MASK = const(0x3FFFFFFF)


def scan_twin(ring, st, out):
    pos = st[POS]
    count = st[COUNT]
    mask = st[MASK]
    l1 = st[L1]
    l2 = st[L2]
    l3 = st[L3]
    dly = st[DLY]
    shift = st[SHIFT]
    zero = st[ZERO]
    hyst = st[HYST]
    a0 = st[A0]
    a2 = st[A2]
    a3 = st[A3]
    a23 = st[A23]
    b0 = st[B0]
    b3 = st[B3]
    c = st[C]
    prev = st[PREV]
    arm = st[ARM]
    s = st[SUM]
    e = st[ENERGY]
    cap = st[CAP]
    bias = st[BIAS]
    exc = st[EXC]
    found = 0
    j = 0
    while j < count:
        i = (pos + j) & mask
        a0 += ring[i] - ring[(i - l1) & mask]
        k = i - l2
        a2 += ring[k & mask] - ring[(k - l1) & mask]
        k = i - l3
        a3 += ring[k & mask] - ring[(k - l1) & mask]
        k = i - l2 - l3
        a23 += ring[k & mask] - ring[(k - l1) & mask]
        b0 += a0 - a2
        b3 += a3 - a23
        c += b0 - b3
        v = ring[(i - dly) & mask] - bias
        s = (s + v) & ACC_MASK
        e = (e + ((v * v) >> 2)) & ACC_MASK
        y = c >> shift
        if y >= zero:
            if arm & 1:
                if found < cap:
                    o = found * REC
                    fr = ((zero - prev) << 8) // (y - prev)
                    out[o] = (j << 8) + fr
                    out[o + 1] = 1
                    fr = exc - fr
                    w = v
                    if fr < 0:
                        w = ring[(i - dly + 1) & mask] - bias
                    out[o + 2] = (s - ((fr * w) >> 8)) & ACC_MASK
                    out[o + 3] = (e - ((fr * ((w * w) >> 2)) >> 8)) & ACC_MASK
                found += 1
                arm &= 2
            if y > zero + hyst:
                arm |= 2
        else:
            if arm & 2:
                if found < cap:
                    o = found * REC
                    fr = ((prev - zero) << 8) // (prev - y)
                    out[o] = (j << 8) + fr
                    out[o + 1] = 0
                    fr = exc - fr
                    w = v
                    if fr < 0:
                        w = ring[(i - dly + 1) & mask] - bias
                    out[o + 2] = (s - ((fr * w) >> 8)) & ACC_MASK
                    out[o + 3] = (e - ((fr * ((w * w) >> 2)) >> 8)) & ACC_MASK
                found += 1
                arm &= 1
            if y < zero - hyst:
                arm |= 1
        prev = y
        j += 1
    st[POS] = (pos + count) & mask
    st[A0] = a0
    st[A2] = a2
    st[A3] = a3
    st[A23] = a23
    st[B0] = b0
    st[B3] = b3
    st[C] = c
    st[PREV] = prev
    st[ARM] = arm
    st[SUM] = s
    st[ENERGY] = e
    return found


# The viper kernel is defined only where MicroPython's compiler runs; CPython uses
# the twin. (The compiler resolves the decorator itself; the import is for the type
# checker, whose MicroPython stubs declare ptr16/ptr32 as builtins.)
if sys.implementation.name == "micropython":
    import micropython

    @micropython.viper
    def scan_viper(ring: ptr16, st: ptr32, out: ptr32) -> int:  # noqa: F821 (viper builtins)
        pos = int(st[0])
        count = int(st[1])
        mask = int(st[2])
        l1 = int(st[3])
        l2 = int(st[4])
        l3 = int(st[5])
        dly = int(st[6])
        shift = int(st[7])
        zero = int(st[8])
        hyst = int(st[9])
        a0 = int(st[10])
        a2 = int(st[11])
        a3 = int(st[12])
        a23 = int(st[13])
        b0 = int(st[14])
        b3 = int(st[15])
        c = int(st[16])
        prev = int(st[17])
        arm = int(st[18])
        s = int(st[19])
        e = int(st[20])
        cap = int(st[21])
        bias = int(st[22])
        exc = int(st[23])
        found = 0
        j = 0
        while j < count:
            i = (pos + j) & mask
            a0 += int(ring[i]) - int(ring[(i - l1) & mask])
            k = i - l2
            a2 += int(ring[k & mask]) - int(ring[(k - l1) & mask])
            k = i - l3
            a3 += int(ring[k & mask]) - int(ring[(k - l1) & mask])
            k = i - l2 - l3
            a23 += int(ring[k & mask]) - int(ring[(k - l1) & mask])
            b0 += a0 - a2
            b3 += a3 - a23
            c += b0 - b3
            v = int(ring[(i - dly) & mask]) - bias
            s = (s + v) & 0x3FFFFFFF
            e = (e + ((v * v) >> 2)) & 0x3FFFFFFF
            y = c >> shift
            if y >= zero:
                if arm & 1:
                    if found < cap:
                        o = found * 4
                        fr = ((zero - prev) << 8) // (y - prev)
                        out[o] = (j << 8) + fr
                        out[o + 1] = 1
                        fr = exc - fr
                        w = v
                        if fr < 0:
                            w = int(ring[(i - dly + 1) & mask]) - bias
                        out[o + 2] = (s - ((fr * w) >> 8)) & 0x3FFFFFFF
                        out[o + 3] = (e - ((fr * ((w * w) >> 2)) >> 8)) & 0x3FFFFFFF
                    found += 1
                    arm &= 2
                if y > zero + hyst:
                    arm |= 2
            else:
                if arm & 2:
                    if found < cap:
                        o = found * 4
                        fr = ((prev - zero) << 8) // (prev - y)
                        out[o] = (j << 8) + fr
                        out[o + 1] = 0
                        fr = exc - fr
                        w = v
                        if fr < 0:
                            w = int(ring[(i - dly + 1) & mask]) - bias
                        out[o + 2] = (s - ((fr * w) >> 8)) & 0x3FFFFFFF
                        out[o + 3] = (e - ((fr * ((w * w) >> 2)) >> 8)) & 0x3FFFFFFF
                    found += 1
                    arm &= 1
                if y < zero - hyst:
                    arm |= 1
            prev = y
            j += 1
        st[0] = (pos + count) & mask
        st[10] = a0
        st[11] = a2
        st[12] = a3
        st[13] = a23
        st[14] = b0
        st[15] = b3
        st[16] = c
        st[17] = prev
        st[18] = arm
        st[19] = s
        st[20] = e
        return found

    scan = scan_viper
else:
    scan_viper = None  # type: ignore[assignment]  # no viper kernel off MicroPython
    scan = scan_twin
