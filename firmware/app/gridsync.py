"""Grid synchronisation: frequency, phase, ROCOF and RMS voltage from ADC samples.

Method: filtered period averaging over zero crossings (not a PLL). The kernel
(`firmware.kernels.zerocross`) low-pass filters the samples with a linear-phase FIR
that nulls the 3rd/5th/7th harmonic, and returns the rising and falling crossings to
1/256 sample. Here, per crossing:

* Frequency over N cycles = N / (time of N cycles), averaged over the last rising *and*
  the last falling edge: a DC offset moves rising and falling crossings by the same
  amount in opposite directions, so it cancels, and so does a sag that changes the
  offset's relative size. Windows: `short_cycles` (5, IEEE 1547's fast window) and
  `long_cycles` (60). A period average has no loop to settle and no frequency-dependent
  bias, and N crossings measure the true mean frequency of their window exactly, up to
  the timing noise of the two end crossings — which is why it meets 2 mHz over 60 cycles
  with a 12-bit ADC where a PLL would need careful tuning to trade noise for tracking.
* ROCOF = difference of two adjacent `rocof_cycles` windows over the distance of their
  centres.
* Phase (Q16 turns, 0 at the fundamental's rising zero crossing) at the latest sample:
  extrapolated from the last rising (phase 0) and falling (phase 1/2) crossing with the
  last one-cycle frequency, corrected for ROCOF, and averaged (DC offset cancels again).
  The filter's constant delay is subtracted from every crossing time.
* RMS and DC over the last whole cycle, at every crossing (rising to rising, falling
  to falling), from the kernel's accumulators: `rms_mv`, for telemetry and GridStatus.
  How fast it follows a sag or a swell: a step of more than ~6 % is a discontinuity
  (below), which drops the history and blanks the filter's span; the first RMS after
  it needs one whole cycle of crossings. From the step to an `rms_mv` within 1 % of
  the new level that is the span plus 1.5 to 2.5 cycles (measured with 1 ms blocks,
  benchmarks/gridsync.py: 46-61 ms at 50 Hz, 37-51 ms at 60 Hz, swells the slower),
  during which RMS_OK is off and `rms_mv` holds the value from before the step
  (`rms_latency_ms()` is the lower end). Too slow and too variable for the trips.
* The fast voltage for the trips: the RMS of every half cycle, from each crossing the
  kernel reports to the next (either edge), whatever the discontinuity handling does
  with them, so no history and no blanking. Its DC part is taken off with the slow
  DC, and the kernel ends its sums exactly at the crossings (zerocross docstring).
  Where there are no crossings for a half cycle and a half (a sag below the kernel's
  15 % hysteresis, a dropout) fixed windows of at least a nominal half cycle take
  over, the first from the last crossing. Each block's values are in `vf_mv[:vf_n]`,
  oldest first, with `vf_age_ms(i)`: how long before the latest sample their samples
  began. A half cycle is out a half cycle plus the
  filter's delay after it began (the crossing that ends it is seen through the
  filter) and the guard starts its timer where the value before the first beyond
  began: measured over 12 step phases, 1-14 ms before the step, never after it; the
  first value beyond is out 10-35 ms after the step (benchmarks/gridsync.py). Error
  at a steady level, with 5 % THD, 2 LSB noise and a 2.5 % DC offset: within 0.3 %
  at 2 kHz and above, 0.55 % at 1 kHz; in the fallback windows (below 0.15 pu) a few
  % of that low level, which is far below any threshold.

Plausibility: periods outside f_nom +-15 %, two crossings of the same direction in a
row, or a sample overrun reset the history (RANGE / OVERRUN). A period that differs
from the previous ones by more than `jump_permille` (a phase jump), or a half cycle whose
mean square differs from the same polarity's a cycle before by more than twice
`amp_step_pct` (a sag or swell edge) is a discontinuity (JUMP): the filter smears it
over its span and would move the crossings nearby, so the history is dropped and the
crossings inside that span are ignored. Windows and phase anchors end one crossing
back, at a crossing the latest one has confirmed, so a half-moved crossing is never
used. No crossing for `loss_cycles` nominal cycles -> LOST.

Allocation-free per block: preallocated arrays, small ints only; every product is
kept below 2**30 (see `muldiv`) so that the same holds on 32-bit ports. Times are in
1/256 sample, modulo 2**29 (`TMASK`).
"""

from array import array

from firmware.compat import const, zeros
from firmware.kernels import zerocross as zc

TMASK = const(0x1FFFFFFF)
THALF = const(0x10000000)
VF_CAP = const(8)  # fast voltage values kept per block

# flags
SHORT_OK = const(1)  # the short-window frequency is valid
LONG_OK = const(2)  # the long window is full
PHASE_OK = const(4)
RMS_OK = const(8)
LOST = const(16)  # no zero crossing for loss_cycles: no grid
JUMP = const(32)  # a discontinuity (phase jump, sag or swell edge) in the last block
RANGE = const(64)  # an implausible period in the last block
OVERRUN = const(128)  # samples or crossings were lost in the last block

FLAG_NAMES = (
    (SHORT_OK, "short"), (LONG_OK, "long"), (PHASE_OK, "phase"), (RMS_OK, "rms"),
    (LOST, "lost"), (JUMP, "jump"), (RANGE, "range"), (OVERRUN, "overrun"),
)


def muldiv(a, b, c):
    """floor(a * b / c) for a, b >= 0, c > 0 and a result below 2**30, with every
    intermediate below 2**30. Divisors of 2**21 and above lose their low bits (and a
    with them): a relative error below 2**-20."""
    if a <= 0x3FFFFFFF // (b | 1):
        return a * b // c  # the product fits: exact and quick
    while c >= 0x200000:
        c >>= 1
        a >>= 1
    q = a // c
    r = a - q * c
    res = q * b
    rem = 0
    frac = 0
    sh = 24
    while sh and not b >> sh:
        sh -= 8
    while sh >= 0:
        x = (rem << 8) + r * ((b >> sh) & 255)
        frac = (frac << 8) + x // c
        rem = x % c
        sh -= 8
    return res + frac


def smuldiv(a, b, c):
    """muldiv for a of either sign."""
    if a < 0:
        return -muldiv(-a, b, c)
    return muldiv(a, b, c)


def isqrt(n):
    if n <= 0:
        return 0
    x = 1
    while x * x < n:
        x <<= 1
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def wrap16(x):
    """A Q16 phase difference to -32768..32767."""
    return ((x + 32768) & 0xFFFF) - 32768


def agreeing_rocof(local, reported, reported_ready):
    """The local ROCOF as far as the reported one agrees: 0 when their signs differ, no
    larger in size than the reported one; the local one alone until that one exists."""
    if not reported_ready:
        return local
    if (local > 0) != (reported > 0):
        return 0
    if (local > reported) == (local > 0):
        return reported
    return local


def pow2_at_least(n):
    p = 1
    while p < n:
        p <<= 1
    return p


def harmonic_gain(lengths, f, fs):
    """Gain of the cascaded boxcars at frequency f, relative to DC (used at set-up)."""
    import math

    g = 1.0
    for n in lengths:
        x = math.pi * f / fs
        g *= math.sin(n * x) / (n * math.sin(x))
    return g


class GridSync:
    """One grid voltage input. The ADC timer writes 12-bit samples into `ring` (an
    array('H') of 2**ring_bits, index masked with `mask`, starting at 0); the control
    loop calls `process(n)` with the number written since the last call, at most
    `max_block`, and reads `flags`, `freq_mhz()`, `f_short_uhz`, `f_long_uhz`,
    `rocof_mhz_s`, `phase16`, `rms_mv`, `dc_q4`, and for the trips `vf_mv[:vf_n]`
    with `vf_age_ms(i)`."""

    def __init__(self, fs, f_nom=50, ring_bits=10, peak_counts=1600, mid=2048,
                 uv_per_lsb=203293, short_cycles=5, long_cycles=60, rocof_cycles=5,
                 min_amplitude_pct=15, jump_permille=20, amp_step_pct=6, loss_cycles=2, kernel=None):
        assert 1000 <= fs <= 10000 and f_nom in (50, 60)
        self.fs = fs
        self.f_nom = f_nom
        self.uv_per_lsb = uv_per_lsb
        self.short_cycles = short_cycles
        self.long_cycles = long_cycles
        self.rocof_cycles = rocof_cycles
        self.jump_permille = jump_permille
        self.amp_step_pct = amp_step_pct
        self.scan = kernel or zc.scan
        n = 1 << ring_bits
        l1 = (fs + 3 * f_nom // 2) // (3 * f_nom)
        l2 = (fs + 5 * f_nom // 2) // (5 * f_nom)
        l3 = (fs + 7 * f_nom // 2) // (7 * f_nom)
        gain = l1 * l2 * l3
        assert gain * 4095 < (1 << 30)
        self.lengths = (l1, l2, l3)
        span = l1 + l2 + l3
        self.span_q8 = span << 8
        self.dq8 = (span - 3) << 7  # filter delay in 1/256 sample
        self.max_block = n - span - 16
        assert self.max_block >= fs // 100, "ring too small for 10 ms blocks"
        h1 = harmonic_gain(self.lengths, f_nom, fs)  # the filter's gain at f_nom
        amp = int(peak_counts * gain * h1)
        self._dc_k = int(65536 / (6.2832 * h1))  # see _set_vfast
        shift = 0
        while (amp >> shift) > (1 << 20):
            shift += 1
        self.pmin = fs * 256 * 100 // (f_nom * 115)  # 1/256 sample
        self.pmax = fs * 256 * 100 // (f_nom * 85)
        self.cap = 2 * self.max_block * 256 // self.pmin + 4

        self.ring = zeros("H", n)
        for i in range(n):
            self.ring[i] = mid
        self.mask = n - 1
        st = array("i", [0] * zc.NSTATE)
        st[zc.MASK] = n - 1
        st[zc.L1] = l1
        st[zc.L2] = l2
        st[zc.L3] = l3
        # the accumulators' delay: the whole samples up to the crossing, and how far the
        # last of them reaches past it when the crossing's fraction is 0 (kernel docstring)
        st[zc.DLY] = (span - 3) // 2 + 1
        st[zc.EXC] = 128 if (span - 3) % 2 == 0 else 256
        st[zc.SHIFT] = shift
        st[zc.ZERO] = (mid * gain) >> shift
        st[zc.HYST] = (amp * min_amplitude_pct // 100) >> shift
        st[zc.CAP] = self.cap
        st[zc.BIAS] = mid
        self.st = st
        self.mid = mid
        self._restart_filter()
        self.out = zeros("i", zc.REC * self.cap)

        need = max(2 * long_cycles + 2, 4 * rocof_cycles + 2, 2 * short_cycles + 2, 8)
        cr = pow2_at_least(need)
        self.cmask = cr - 1
        self._t = zeros("i", cr)  # crossing times (1/256 sample, delay removed)
        self._s = zeros("i", cr)  # kernel sum at that sample
        self._e = zeros("i", cr)  # kernel energy at that sample
        self.loss_q8 = loss_cycles * fs * 256 // f_nom
        # the fast voltage for the trips (module docstring): the RMS of every half cycle
        # the kernel delimits, whatever the discontinuity handling makes of its crossings
        self.half_q8 = fs * 128 // f_nom  # a nominal half cycle, 1/256 sample
        # every value of this block, oldest first, and where its samples began
        self.vf_mv = array("i", [0] * VF_CAP)
        self.vf_t = array("i", [0] * VF_CAP)
        self.vf_n = 0
        self._vt = 0  # the last crossing the kernel reported, and its accumulators
        self._vs = 0
        self._ve = 0
        self._vedge = -1
        self._fb_t = 0  # the fallback window's start, for when crossings stop
        self._fb_s = 0
        self._fb_e = 0
        self._fb_fresh = True  # no valid window start (boot, skipped samples)

        self.base = 0  # time of the block's first sample, 1/256 sample
        self.h = 0  # crossings in the history since the last reset
        self.edge = -1
        self.t_seen = 0  # time of the last crossing found (blanked ones too)
        self.blank_until = 0
        self.blanking = False
        # outputs
        self.flags = LOST
        self.f_short_uhz = 0
        self.f_long_uhz = 0
        self.long_n = 0  # cycles in the long window (long_cycles once LONG_OK)
        self.rocof_mhz_s = 0
        self.phase16 = 0
        self.rms_mv = 0
        self.dc_q4 = mid << 4
        self._rms_ok = False
        self._period = 0  # last one-cycle period, 1/256 sample
        self._rocof_local = 0  # mHz/s, for the phase extrapolation
        self._w14 = 0
        self._anchor_t = 0
        self._anchor_p = 0
        self._back = 0
        self._k2 = 0
        # counters
        self.jumps = 0
        self.range_errors = 0
        self.overruns = 0

    # --------------------------------------------------------------- per block

    def process(self, count):
        """Consume `count` new samples written at the ring from the last position on."""
        events = 0
        st = self.st
        if count > self.max_block:
            skip = count - self.max_block
            st[zc.POS] = (st[zc.POS] + skip) & self.mask
            self._advance(skip)
            self._restart_filter()
            count = self.max_block
            self.overruns += 1
            events |= OVERRUN
            self._reset()
            self._vedge = -1  # the accumulators missed the skipped samples
            self._fb_fresh = True
        st[zc.COUNT] = count
        self.vf_n = 0
        # viper makes pointers of the arrays at the call; the stubs' ptr16/ptr32 are ints
        found = self.scan(self.ring, st, self.out)  # type: ignore[arg-type]
        if found > self.cap:  # cannot happen with plausible input; the windows have a gap
            found = 0
            self.overruns += 1
            events |= OVERRUN
            self._reset()
        out = self.out
        for q in range(found):
            o = q * 4
            events |= self._crossing(out[o], out[o + 1], out[o + 2], out[o + 3])
        self._advance(count)
        self._fallback()
        now = (self.base - 256) & TMASK
        if ((now - self.t_seen) & TMASK) > self.loss_q8:
            self.h = 0
            self.blanking = False
            self._rms_ok = False
            events |= LOST
        self.flags = events | self._valid(now)
        return self.flags

    def _restart_filter(self):
        """Make the running sums consistent again after skipped samples: fill the
        filter's history before the read position with mid-scale and set the sums to
        match (the sums never see the samples they would have to subtract)."""
        st = self.st
        l1 = st[zc.L1]
        l2 = st[zc.L2]
        mid = self.mid
        p = st[zc.POS]
        for k in range(1, l1 + l2 + st[zc.L3] + 1):
            self.ring[(p - k) & self.mask] = mid
        st[zc.A0] = st[zc.A2] = st[zc.A3] = st[zc.A23] = l1 * mid
        st[zc.B0] = st[zc.B3] = l2 * l1 * mid
        st[zc.C] = l2 * l1 * st[zc.L3] * mid
        st[zc.PREV] = st[zc.ZERO]
        st[zc.ARM] = 0

    def _advance(self, count):
        self.base = (self.base + (count << 8)) & TMASK

    def _valid(self, now):
        # windows and anchors end one crossing back: that one has been confirmed by
        # the latest, so a crossing half-moved by a jump or a sag is never used
        h = self.h - 1
        f = 0
        if h >= 2 * self.short_cycles + 2:
            f |= SHORT_OK
        if h >= 2 * self.long_cycles + 2:
            f |= LONG_OK
        if h >= 10:  # five half-cycle pairs: the period and a first ROCOF (2 x 2 cycles)
            f |= PHASE_OK
            self.phase16 = self._phase(now)
        if self._rms_ok:
            f |= RMS_OK
        return f

    def _reset(self):
        self.h = 0
        self._rms_ok = False
        self.rocof_mhz_s = 0
        self._rocof_local = 0

    def _discontinuity(self, t):
        """A phase jump or an amplitude step: the filter smears it over its span, so
        drop the history and ignore the crossings inside that span."""
        self._reset()
        self.jumps += 1
        self.blank_until = (t + self.span_q8) & TMASK
        self.blanking = True
        return JUMP

    def _crossing(self, pos, edge, s, e):
        t = (self.base + pos - 256 - self.dq8) & TMASK
        self.t_seen = t
        self._half_cycle(t, edge, s, e)
        if self.blanking:
            if ((t - self.blank_until) & TMASK) >= THALF:
                return 0
            self.blanking = False
        events = 0
        h = self.h
        tt = self._t
        m = self.cmask
        if h and edge == self.edge:
            self._reset()
            events = RANGE
            self.range_errors += 1
        elif h >= 2:
            p = (t - tt[(h - 2) & m]) & TMASK
            if p < self.pmin or p > self.pmax:
                self._reset()
                events = RANGE
                self.range_errors += 1
            elif h >= 4:
                ref = (((tt[(h - 1) & m] - tt[(h - 3) & m]) & TMASK)
                       + ((tt[(h - 2) & m] - tt[(h - 4) & m]) & TMASK)) >> 1
                dev = p - ref
                if dev < 0:
                    dev = -dev
                if dev * 1000 > ref * self.jump_permille:
                    return self._discontinuity(t)
            if h >= 3 and self._amplitude_step(h, t, e):
                return self._discontinuity(t)
        h = self.h
        i = h & m
        tt[i] = t
        self._s[i] = s
        self._e[i] = e
        self.edge = edge
        h += 1
        if h >= 2 * m + 2:
            h -= m + 1  # keep it small; the index modulo the ring is unchanged
        self.h = h
        self._update(h, edge)
        return events

    def _amplitude_step(self, h, t, e):
        """Mean square of the half cycle ending now against the one of the same
        polarity a cycle earlier (a DC offset makes the two polarities differ)."""
        m = self.cmask
        tt = self._t
        ee = self._e
        i1 = (h - 1) & m
        i2 = (h - 2) & m
        i3 = (h - 3) & m
        e1 = muldiv((e - ee[i1]) & zc.ACC_MASK, 256, (t - tt[i1]) & TMASK)
        e0 = muldiv((ee[i2] - ee[i3]) & zc.ACC_MASK, 256, (tt[i2] - tt[i3]) & TMASK)
        d = e1 - e0
        if d < 0:
            d = -d
        return d * 50 > e0 * self.amp_step_pct

    # --------------------------------------------------------------- fast voltage

    def _half_cycle(self, t, edge, s, e):
        """The RMS of the half cycle that ends at this crossing (either edge), from the
        accumulators at both ends: no history, so a sag or a jump that the frequency
        estimator blanks is measured all the same."""
        p = (t - self._vt) & TMASK
        if edge != self._vedge and (self.half_q8 >> 1) <= p <= self.half_q8 + (self.half_q8 >> 1):
            self._set_vfast(s - self._vs, e - self._ve, p, self._vt, 1 - 2 * edge)
        self._vt = t
        self._vs = s
        self._ve = e
        self._vedge = edge

    def _fallback(self):
        """Without crossings (a deep sag below the kernel's hysteresis, a dropout) the
        voltage is the RMS of fixed windows of at least a nominal half cycle, one per
        block or per half cycle, whichever is longer: not synchronous, so it ripples,
        but far below UV2 that does not matter."""
        st = self.st
        t = (self.base - 256 - self.dq8) & TMASK  # the accumulators' time, as crossings'
        if self._fb_fresh:
            self._fb_fresh = False
        elif ((t - self._fb_t) & TMASK) < self.half_q8:
            return
        elif self._vedge < 0:
            self._set_vfast(st[zc.SUM] - self._fb_s, st[zc.ENERGY] - self._fb_e,
                            (t - self._fb_t) & TMASK, self._fb_t, 0)
        elif ((t - self._vt) & TMASK) > self.half_q8 + (self.half_q8 >> 1):
            # the first window without crossings runs from the last one: no gap
            self._set_vfast(st[zc.SUM] - self._vs, st[zc.ENERGY] - self._ve,
                            (t - self._vt) & TMASK, self._vt, 0)
            self._vedge = -1
        self._fb_t = t
        self._fb_s = st[zc.SUM]
        self._fb_e = st[zc.ENERGY]

    def _set_vfast(self, ds, de, p, t0, polarity):
        """RMS of the AC part of the samples between t0 and t0 + p: the mean square
        about the bias less the offset's share, with the offset from the slow
        whole-cycle DC (a half cycle's own mean is the half wave's, not the offset).
        The kernel's crossings are those of the filtered signal through the bias, not
        through the offset: with the filter's gain g at f_nom an offset d lengthens the
        half wave on its side by about 2 d / (g A) and shortens the other, which lowers
        or raises its mean square by about 2 d / (pi g A); `polarity` (+1 above the
        bias, -1 below, 0 not a half wave) says which to undo."""
        ds &= zc.ACC_MASK
        if ds >= 0x20000000:
            ds -= 0x40000000
        mean_q4 = smuldiv(ds, 4096, p)
        if mean_q4 > 32767:
            mean_q4 = 32767
        elif mean_q4 < -32767:
            mean_q4 = -32767
        d = self.dc_q4 - (self.mid << 4)
        if d > 8191:
            d = 8191
        elif d < -8191:
            d = -8191
        ms16 = muldiv(de & zc.ACC_MASK, 16384, p) - ((2 * d * mean_q4 - d * d) >> 4)
        if polarity and d and ms16 > 0:
            # 2 d / (pi g A) = d_q4 / (2 pi g a_q2), a_q2 = 4 A = sqrt(32 ms)
            corr = muldiv(muldiv(ms16, d if d > 0 else -d, isqrt(2 * ms16)), self._dc_k, 65536)
            ms16 += corr if (d > 0) == (polarity > 0) else -corr
        mv = muldiv(isqrt(ms16), self.uv_per_lsb, 4000)
        n = self.vf_n
        if n == VF_CAP:  # more than a block should hold: keep the latest
            n -= 1
            for i in range(n):
                self.vf_mv[i] = self.vf_mv[i + 1]
                self.vf_t[i] = self.vf_t[i + 1]
        self.vf_mv[n] = mv
        self.vf_t[n] = t0
        self.vf_n = n + 1

    def vf_age_ms(self, i):
        """How long before the latest sample the samples of this block's value i began
        (rounded up)."""
        x = ((self.base - 256) - self.vf_t[i]) & TMASK
        d = self.fs * 32
        if x < 0x800000:  # always, for this block's values: the product stays small
            return (x * 125 + d - 1) // d
        return muldiv(x, 125, d) + 1

    # --------------------------------------------------------------- estimates

    def _span(self, k, n2):
        """Sum of the spans of the windows of n2 crossings ending at k and at k - 1."""
        tt = self._t
        m = self.cmask
        return (((tt[k & m] - tt[(k - n2) & m]) & TMASK)
                + ((tt[(k - 1) & m] - tt[(k - 1 - n2) & m]) & TMASK))

    def _freq(self, k, cycles):
        return muldiv(2 * cycles * self.fs * 256, 1000000, self._span(k, 2 * cycles))

    def _update(self, h, edge):
        if h >= 3:
            self._rms(h - 1)
        h -= 1  # the confirmed crossings (see _valid)
        k = h - 1
        ns = self.short_cycles
        if h >= 4:
            self._period = self._span(k, 2) >> 1
            self._set_anchor(k)
        if h >= 2 * ns + 2:
            self.f_short_uhz = self._freq(k, ns)
            cycles = (h - 2) >> 1
            if cycles > self.long_cycles:
                cycles = self.long_cycles
            self.long_n = cycles
            self.f_long_uhz = self._freq(k, cycles)
        nr = self.rocof_cycles
        if h >= 4 * nr + 2:
            self.rocof_mhz_s = self._rocof(k, nr)
        # the phase extrapolation takes the ROCOF of two 2-cycle windows, but only as
        # far as the reported one agrees: that one still remembers a step for
        # 2 x rocof_cycles, the local one is noisy; together they follow a ramp
        r = 0
        if h >= 10:
            r = agreeing_rocof(self._rocof(k, 2), self.rocof_mhz_s, h >= 4 * nr + 2)
        self._rocof_local = r

    def _rocof(self, k, nr):
        fa = self._freq(k, nr)
        fb = self._freq(k - 2 * nr, nr)
        gap = self._span(k, 4 * nr) >> 2  # distance of the two windows' centres
        r = smuldiv(fa - fb, self.fs * 32, gap * 125)  # uHz / (gap / 256 fs) / 1000
        if r > 20000:
            return 20000
        if r < -20000:
            return -20000
        return r

    def _rms(self, k):
        """RMS and DC of the last cycle. The sums run over whole samples between the
        crossings, but the samples next to a crossing are near zero, so dividing by
        the interpolated period (not the sample count) is what makes them exact."""
        m = self.cmask
        j = (k - 2) & m
        k &= m
        p = (self._t[k] - self._t[j]) & TMASK
        s = (self._s[k] - self._s[j]) & zc.ACC_MASK
        if s >= 0x20000000:
            s -= 0x40000000
        e = (self._e[k] - self._e[j]) & zc.ACC_MASK
        mean_q4 = smuldiv(s, 4096, p)
        if mean_q4 > 32767:
            mean_q4 = 32767
        elif mean_q4 < -32767:
            mean_q4 = -32767
        ms16 = muldiv(e, 16384, p) - ((mean_q4 * mean_q4) >> 4)
        rms_q2 = isqrt(ms16)  # sqrt(16 ms) = 4 rms
        self.rms_mv = muldiv(rms_q2, self.uv_per_lsb, 4000)
        self.dc_q4 = (self.mid << 4) + mean_q4
        self._rms_ok = True

    def _set_anchor(self, k):
        """Per confirmed crossing: everything the phase needs but the time `now`.
        Both anchors, the crossing k and the one before (half a turn apart), are
        averaged: a DC offset moves them in opposite directions."""
        tt = self._t
        m = self.cmask
        t0 = tt[k & m]
        d01 = (t0 - tt[(k - 1) & m]) & TMASK
        p = self._period
        self._w14 = ((1 << 30) + (p >> 1)) // p  # Q16 turns per 1/256 sample, Q14
        # centre of the last four crossings: where the one-cycle period was measured
        back = (d01 + ((t0 - tt[(k - 2) & m]) & TMASK) + ((t0 - tt[(k - 3) & m]) & TMASK)) >> 2
        b0 = 32768 if self.edge == 1 else 0  # crossing k is the other edge than the latest
        delta = wrap16(32768 + self._turns(d01))  # phase(k - 1 extrapolated) - phase(k)
        self._anchor_t = t0
        self._anchor_p = b0 + (delta >> 1)
        self._back = back
        fs16 = self.fs * 16
        u0 = muldiv(back, 625, fs16)  # 0.1 ms from the centre
        u1 = smuldiv(back - d01, 625, fs16)
        self._k2 = (u0 * u0 + u1 * u1) >> 1

    def _turns(self, dt):
        """Q16 turns in dt (1/256 sample) at the last one-cycle period."""
        w = self._w14
        return (((dt >> 8) * w) >> 6) + (((dt & 255) * w) >> 14)

    def _phase(self, now):
        """Phase (Q16 turns) of the fundamental at time `now` (1/256 sample): the
        anchors' phase advanced at the one-cycle frequency, plus the ROCOF term
        R/2 * ((now - c)**2 - (t_anchor - c)**2) about the period's centre c."""
        dt = (now - self._anchor_t) & TMASK
        p = self._anchor_p + self._turns(dt)
        r = self._rocof_local
        if r:
            u = muldiv(dt + self._back, 625, self.fs * 16)  # 0.1 ms from the centre
            # R [mHz/s] * u**2 [1e-8 s**2] / 2 * 65536 / 1000 = R * u**2 / 3051758
            p += smuldiv(r, u * u - self._k2, 3051758)
        return p & 0xFFFF

    # --------------------------------------------------------------- readers

    def freq_mhz(self):
        return (self.f_short_uhz + 500) // 1000

    def rms_latency_ms(self):
        """The least time from a voltage step to an `rms_mv` that shows it: the
        filter's span (blanked) plus a cycle and a half (see the module docstring).
        Telemetry only: the trips use the fast voltage, which carries its own age."""
        return (self.span_q8 >> 8) * 1000 // self.fs + 1500 // self.f_nom

    def phase_ahead(self, samples):
        """Phase (Q16 turns) `samples` after the latest sample, at the one-cycle
        frequency: for a converter reference that runs ahead of the last block."""
        if not self._period:
            return self.phase16
        return (self.phase16 + self._turns(samples << 8)) & 0xFFFF

    def window(self, cycles):
        """(start, end) times of the two windows of `cycles` ending at the latest two
        crossings, and the latest sample's time: for tests and the benchmark."""
        tt = self._t
        m = self.cmask
        k = self.h - 2
        n2 = 2 * cycles
        return (tt[(k - n2) & m], tt[k & m], tt[(k - 1 - n2) & m], tt[(k - 1) & m],
                (self.base - 256) & TMASK)


CONFIG_KEYS = ("fs", "f_nom", "ring_bits", "peak_counts", "mid", "uv_per_lsb", "short_cycles",
               "long_cycles", "rocof_cycles", "min_amplitude_pct", "jump_permille",
               "amp_step_pct", "loss_cycles")


def from_config(cfg):
    """A GridSync from a board's `grid` dict (keys as in CONFIG_KEYS; others ignored)."""
    return GridSync(**{k: cfg[k] for k in CONFIG_KEYS if k in cfg})


def flag_names(flags):
    return [name for bit, name in FLAG_NAMES if flags & bit]
