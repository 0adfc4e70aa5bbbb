"""Grid frequency, ROCOF and phase from a zero-cross comparator's rising edges.

The sibling of `gridsync.GridSync` for boards with a comparator on the grid voltage:
a pin IRQ writes each rising edge's ticks_us (modulo 2**30) into `ring`
(array('i') of 2**ring_bits, index masked with `mask`, starting at 0); the control loop
calls `process(n, now_us)` with the number written since the last call and the clock
now. The outputs have GridSync's names and units (`flags` with its bits, `freq_mhz()`,
`f_short_uhz`, `f_long_uhz`, `rocof_mhz_s`, `phase16`), so the grid guard takes
either. A comparator says nothing about the amplitude: RMS voltage and voltage-based
loss of grid still come from the ADC (`combine()` merges the two flag sets).

Method: the same period averaging as GridSync, on timestamps instead of interpolated
ADC crossings. Each accepted edge is stored with its cycle number; frequency over a
window = cycles / time between its end edges (`short_cycles`, `long_cycles`), ROCOF =
difference of two adjacent `rocof_cycles` windows over the distance of their centres,
phase = the time since the last edge at the last two-cycle period, with a ROCOF term,
valid until the next edge is due (a missed edge makes the phase unknown, not wrong).
`delay_us` (the comparator's own delay) is taken off every timestamp. There is no
filter, hence no filter delay and no blanking; the timing noise is the IRQ's entry
jitter (a few us on rp2 and stm32).

Plausibility, edge by edge, against the period p of the last two cycles:

* an edge less than `pmin` (f_nom + 15 %) after the last accepted one is chatter or
  noise: ignored (`glitches`);
* an edge n periods after the last one, within +-`jump_permille` of p (not of n * p:
  timing noise does not grow with n), is accepted as n cycles: n - 1 edges were missed
  (`missed`); more than `max_missing` missed in a row restart the history (RANGE);
* any other edge is a candidate: a glitch between two crossings, or the first edge
  after a phase jump. The next edge decides: on the old series, the candidate was a
  glitch and is dropped; one period after the candidate, it was a jump (JUMP): the
  history restarts from the candidate, so no window spans the jump;
* no accepted edge for `loss_cycles` nominal periods: LOST, history dropped;
* more edges than the ring holds between two calls: OVERRUN, history dropped.

Allocation-free per call: preallocated arrays, small ints only; products kept below
2**30 with gridsync.muldiv. Times in us modulo 2**30 (`TMASK`).
"""


from firmware.app.gridsync import (
    JUMP,
    LONG_OK,
    LOST,
    OVERRUN,
    PHASE_OK,
    RANGE,
    RMS_OK,
    SHORT_OK,
    agreeing_rocof,
    muldiv,
    pow2_at_least,
    smuldiv,
)
from firmware.compat import const, zeros

TMASK = const(0x3FFFFFFF)
THALF = const(0x20000000)


def combine(edge_flags, adc_flags):
    """One flag set for the guard: timing from the edges; RMS from the ADC; LOST when
    either sees no grid (a comparator can toggle on noise with the mains gone)."""
    return (edge_flags & ~RMS_OK) | (adc_flags & (RMS_OK | LOST))


class EdgeSync:
    def __init__(
        self,
        f_nom=50,
        ring_bits=4,
        short_cycles=5,
        long_cycles=60,
        rocof_cycles=5,
        jump_permille=20,
        loss_cycles=3,
        max_missing=1,
        delay_us=0,
    ):
        assert f_nom in (50, 60)
        self.f_nom = f_nom
        self.short_cycles = short_cycles
        self.long_cycles = long_cycles
        self.rocof_cycles = rocof_cycles
        self.jump_permille = jump_permille
        self.max_missing = max_missing
        self.delay_us = delay_us
        n = 1 << ring_bits
        self.ring = zeros("i", n)
        self.mask = n - 1
        self.pos = 0
        pnom = 1000000 // f_nom
        self.pnom = pnom
        self.pmin = pnom * 100 // 115
        self.pmax = pnom * 100 // 85
        self.loss_us = loss_cycles * pnom
        cr = pow2_at_least(max(long_cycles, 2 * rocof_cycles, short_cycles, 4) + 2)
        self.cmask = cr - 1
        self._t = zeros("i", cr)  # accepted edge times (us, delay removed)
        self._c = zeros("i", cr)  # their cycle numbers (missed edges counted)
        self.h = 0  # accepted edges in the history since the last reset
        self.seen = False  # an edge was accepted since the last loss
        self.t_seen = 0
        self.pending = False  # a candidate edge waits for the next to decide
        self.cand = 0
        self._p16 = pnom << 4  # period of the last two cycles, 1/16 us
        self._rocof_local = 0
        # outputs
        self.flags = LOST
        self.f_short_uhz = 0
        self.f_long_uhz = 0
        self.long_n = 0
        self.rocof_mhz_s = 0
        self.phase16 = 0
        # counters
        self.glitches = 0
        self.missed = 0
        self.jumps = 0
        self.range_errors = 0
        self.overruns = 0

    # --------------------------------------------------------------- per call

    def process(self, count, now_us):
        """Consume `count` new timestamps from the ring; `now_us` is ticks_us now."""
        events = 0
        mask = self.mask
        if count > mask + 1:  # the IRQ wrote over edges not yet read
            self.pos = (self.pos + count - mask - 1) & mask
            count = mask + 1
            self.overruns += 1
            events |= OVERRUN
            self._reset()
        ring = self.ring
        pos = self.pos
        delay = self.delay_us
        for _ in range(count):
            events |= self._edge((ring[pos] - delay) & TMASK)
            pos = (pos + 1) & mask
        self.pos = pos
        now = now_us & TMASK
        if self.seen and ((now - self.t_seen) & TMASK) > self.loss_us:
            self.seen = False
            self._reset()
        if not self.seen:
            events |= LOST
        self.flags = events | self._valid(now)
        return self.flags

    def _reset(self):
        self.h = 0
        self.pending = False
        self.rocof_mhz_s = 0
        self._rocof_local = 0

    def _restart(self, t):
        self._reset()
        self._accept(t, 0)

    def _edge(self, t):
        h = self.h
        if h == 0:
            self._accept(t, 0)
            return 0
        m = self.cmask
        gap = (t - self._t[(h - 1) & m]) & TMASK
        if gap < self.pmin:
            self.glitches += 1  # chatter or noise right after the last edge
            return 0
        if h == 1:  # no period yet: the plausible range decides
            if gap <= self.pmax:
                self._accept(t, 1)
            else:
                self._restart(t)
            return 0
        p = self._p16 >> 4
        tol = p * self.jump_permille // 1000
        n = (gap + (p >> 1)) // p
        dev = gap - n * p
        if -tol <= dev <= tol:
            if self.pending:
                self.pending = False
                self.glitches += 1  # the candidate was noise between two crossings
            if n - 1 > self.max_missing:
                self.range_errors += 1
                self._restart(t)
                return RANGE
            self.missed += n - 1
            self._accept(t, n)
            return 0
        if self.pending:
            g2 = (t - self.cand) & TMASK
            if g2 < self.pmin:
                self.glitches += 1  # chatter after the candidate
                return 0
            d2 = g2 - p
            if -tol <= d2 <= tol:  # a new series from the candidate on: a phase jump
                self.jumps += 1
                self._restart(self.cand)
                self._accept(t, 1)
                return JUMP
            self.glitches += 1  # neither fits: keep the newer one as the candidate
        self.pending = True
        self.cand = t
        return 0

    def _accept(self, t, cycles):
        h = self.h
        m = self.cmask
        i = h & m
        self._t[i] = t
        self._c[i] = (self._c[(h - 1) & m] + cycles) & TMASK if h else 0
        h += 1
        if h >= 2 * m + 2:
            h -= m + 1  # keep it small; the index modulo the ring is unchanged
        self.h = h
        self.seen = True
        self.t_seen = t
        self._update(h)

    # --------------------------------------------------------------- estimates

    def _span(self, k, edges):
        m = self.cmask
        return (self._t[k & m] - self._t[(k - edges) & m]) & TMASK

    def _cycles(self, k, edges):
        m = self.cmask
        return (self._c[k & m] - self._c[(k - edges) & m]) & TMASK

    def _freq(self, k, edges):
        """uHz over the `edges` stored edges ending at k."""
        return muldiv(self._cycles(k, edges) * 1000000, 1000000, self._span(k, edges))

    def _rocof(self, k, edges):
        fa = self._freq(k, edges)
        fb = self._freq(k - edges, edges)
        gap = self._span(k, 2 * edges) >> 1  # distance of the two windows' centres, us
        r = smuldiv(fa - fb, 1000, gap)  # uHz/us = Hz/s
        if r > 20000:
            return 20000
        if r < -20000:
            return -20000
        return r

    def _update(self, h):
        k = h - 1
        if h >= 2:
            back = 2 if h >= 3 else 1
            self._p16 = (self._span(k, back) << 4) // self._cycles(k, back)
        ns = self.short_cycles
        if h >= ns + 1:
            self.f_short_uhz = self._freq(k, ns)
            edges = h - 1
            if edges > self.long_cycles:
                edges = self.long_cycles
            self.long_n = edges
            self.f_long_uhz = self._freq(k, edges)
        nr = self.rocof_cycles
        if h >= 2 * nr + 1:
            self.rocof_mhz_s = self._rocof(k, nr)
        # for the phase: the ROCOF of two 2-cycle windows, as far as the reported one
        # agrees (that one still remembers a step for 2 x rocof_cycles, the local one is
        # noisy; together they follow a ramp) - as in GridSync
        r = 0
        if h >= 5:
            r = agreeing_rocof(self._rocof(k, 2), self.rocof_mhz_s, h >= 2 * nr + 1)
        self._rocof_local = r

    def _valid(self, now):
        h = self.h
        f = 0
        if h >= self.short_cycles + 1:
            f |= SHORT_OK
        if h >= self.long_cycles + 1:
            f |= LONG_OK
        if h >= 5:
            # only until the next edge is due: after a missed edge the extrapolation
            # would run two cycles on a period and ROCOF that may be off (after a step)
            dt = (now - self._t[(h - 1) & self.cmask]) & TMASK
            if dt <= self.pmax:
                f |= PHASE_OK
                self.phase16 = self._phase(dt)
        return f

    def _phase(self, dt):
        """Phase (Q16 turns) dt us after the last edge (phase 0): at the two-cycle period,
        plus R/2 * ((dt + p)**2 - p**2) about that period's centre, one cycle back."""
        p16 = self._p16
        turns = muldiv(dt << 4, 65536, p16)
        r = self._rocof_local
        if r:
            p = p16 >> 4
            u = (dt + p) // 100  # 0.1 ms from the centre
            u0 = p // 100
            # R [mHz/s] * u**2 [1e-8 s**2] / 2 * 65536 / 1000 = R * u**2 / 3051758
            turns += smuldiv(r, u * u - u0 * u0, 3051758)
        return turns & 0xFFFF

    # --------------------------------------------------------------- readers

    def freq_mhz(self):
        return (self.f_short_uhz + 500) // 1000

    def window(self, edges):
        """(start, end) times of the window of `edges` stored edges ending at the latest:
        for tests and the benchmark."""
        k = self.h - 1
        m = self.cmask
        return self._t[(k - edges) & m], self._t[k & m]


CONFIG_KEYS = ("f_nom", "short_cycles", "long_cycles", "rocof_cycles", "jump_permille")


def from_config(cfg):
    """An EdgeSync from a board's `grid` dict (zero_cross_delay_us is the comparator's
    delay; the window lengths are GridSync's)."""
    kw = {k: cfg[k] for k in CONFIG_KEYS if k in cfg}
    kw["delay_us"] = cfg.get("zero_cross_delay_us", 0)
    return EdgeSync(**kw)
