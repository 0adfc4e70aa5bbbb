# firmware-vm helper (not a test module)
"""Synthetic zero-cross comparator edges, and the EdgeSync accuracy suite over them.

`EdgeModel` keeps the grid's true phase (cycles, unwrapped) as a closed form of its
events (frequency steps and ramps, phase jumps), and produces the rising edges a
comparator would give: one where the phase passes a whole cycle (also at the instant
of a jump that carries it past one), shifted by the comparator's delay, with IRQ
timing jitter, some edges missing, glitch edges from noise in mid-cycle and chatter
right after a real edge. Deterministic for a seed (xorshift32, no `random`), and
plain enough to run under the MicroPython unix port too.

`run_case` feeds the edges to an EdgeSync in 10 ms ticks, as the pin IRQ and the
control loop would, and measures against the truth as tests/firmware/gridcases.py
does for the ADC path: frequency against the true mean frequency over the
estimator's own window instants; phase at the tick against the true phase there,
except within 3 cycles after a step or a jump; ROCOF against the ramp rate or 0.
"""

import math

from firmware.app import edgesync as E
from tests.firmware import gridcases

TMASK = 0x3FFFFFFF

# name, event, event time (s), duration (s) - the ADC suite's cases but the sag: a comparator
# sees no amplitude
CASES = tuple(c for c in gridcases.CASES if c[1] is None or c[1][0] != "sag")


class EdgeModel:
    def __init__(self, f0, phase0=0.37, seed=11):
        self.f0 = f0
        self.phase0 = phase0
        self.steps = []
        self.ramps = []
        self.jumps = []
        self.seed = (seed * 2654435761 ^ 0x5BD1E995) & 0xFFFFFFFF or 1

    def step(self, at, df):
        self.steps.append((at, df))
        return self

    def ramp(self, start, stop, rate):
        self.ramps.append((start, stop, rate))
        return self

    def jump(self, at, degrees):
        self.jumps.append((at, degrees / 360.0))
        return self

    def phase(self, t):
        """True phase of the fundamental in cycles at t seconds."""
        p = self.phase0 + self.f0 * t
        for at, df in self.steps:
            if t > at:
                p += df * (t - at)
        for start, stop, rate in self.ramps:
            if t > start:
                span = (t if t < stop else stop) - start
                p += rate * span * span / 2
                if t > stop:
                    p += rate * (stop - start) * (t - stop)
        for at, d in self.jumps:
            if t >= at:
                p += d
        return p

    def rand(self):
        """Uniform in [0, 1)."""
        x = self.seed
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.seed = x
        return x / 4294967296.0

    def crossings(self, duration):
        """True times (s) where floor(phase) steps up: the comparator's rising edges."""
        out = []
        t = 0.0
        n = math.floor(self.phase(0.0))
        while t < duration:
            t2 = t + 0.001
            n2 = math.floor(self.phase(t2))
            if n2 > n:
                lo = t
                hi = t2
                for _ in range(40):
                    mid = (lo + hi) / 2
                    if math.floor(self.phase(mid)) > n:
                        hi = mid
                    else:
                        lo = mid
                out.append(hi)
                n = math.floor(self.phase(hi))
                t = hi
                continue
            if n2 < n:  # a backward jump: the next whole cycle comes again
                n = n2
            t = t2
        return out

    def stamps(
        self,
        duration,
        t0_us=1000,
        jitter_us=0.0,
        delay_us=0,
        miss_every=0,
        glitch_every=0,
        chatter_every=0,
    ):
        """(timestamp us modulo 2**30, kind) in time order; kind 0 real, 1 glitch, 2 chatter."""
        out = []
        edges = self.crossings(duration)
        period = 1.0 / self.f0
        for i in range(len(edges)):
            t = edges[i]
            if miss_every and i % miss_every == miss_every - 1:
                continue
            jit = (2 * self.rand() - 1) * jitter_us
            us = t0_us + int(round(t * 1e6 + delay_us + jit))
            out.append((us, 0))
            if chatter_every and i % chatter_every == 3:
                out.append((us + 3 + int(37 * self.rand()), 2))
            if glitch_every and i % glitch_every == 5:
                g = t + period * (0.15 + 0.7 * self.rand())
                out.append((t0_us + int(round(g * 1e6)), 1))
        out.sort()
        return [(us & TMASK, kind) for us, kind in out]


def make_model(case, f_nom):
    return gridcases.apply_event(EdgeModel(gridcases.start_freq(case, f_nom)), case)


def _wrap(x):
    return (x + 0.5) % 1.0 - 0.5


IMPAIRED = {"jitter_us": 5.0, "miss_every": 23, "glitch_every": 17, "chatter_every": 7}


def run_case(case, f_nom, t0_us=1000, delay_us=37, tick_ms=10, impair=None, es=None):
    name, event, at, duration = case
    g = make_model(case, f_nom)
    stamps = g.stamps(duration, t0_us=t0_us, delay_us=delay_us, **(impair or {}))
    es = es or E.EdgeSync(f_nom, delay_us=delay_us)
    settle = 3.0 / f_nom + 0.02
    res = {
        "f5": 0.0,
        "f60": 0.0,
        "phase": 0.0,
        "rocof": None,
        "n5": 0,
        "n60": 0,
        "nph": 0,
        "flags": 0,
    }
    i = 0
    w = 0
    tick = tick_ms / 1000.0
    t = tick
    while t <= duration:
        now_us = (t0_us + int(t * 1e6)) & TMASK
        n = 0
        while i < len(stamps) and ((now_us - stamps[i][0]) & TMASK) < 0x20000000:
            es.ring[w & es.mask] = stamps[i][0]  # as the pin IRQ writes them
            w += 1
            n += 1
            i += 1
        flags = es.process(n, now_us)
        res["flags"] |= flags
        gridcases.score(res, flags, es, event, (t - at, settle), g.phase(t),
                        lambda: _ferr(es, g, t0_us, es.short_cycles, es.f_short_uhz),
                        lambda: _ferr(es, g, t0_us, es.long_n, es.f_long_uhz),
                        es.h >= 2 * es.rocof_cycles + 2)  # fmt: skip
        t += tick
    for k in ("glitches", "missed", "jumps", "range_errors", "overruns"):
        res[k] = getattr(es, k)
    return res


def _ferr(es, g, t0_us, edges, f_uhz):
    """Estimate minus the true mean frequency over the estimator's window, in mHz."""
    a, b = es.window(edges)
    ta = ((a - t0_us) & TMASK) / 1e6
    tb = ((b - t0_us) & TMASK) / 1e6
    f_true = (g.phase(tb) - g.phase(ta)) / (tb - ta)
    return f_uhz / 1000.0 - f_true * 1000.0


def table(f_noms=(50, 60), impair=None, out=print):
    """Run every case and print one row per case; returns the worst of each column."""
    worst = {"f5": 0.0, "f60": 0.0, "phase": 0.0}
    out(
        "%-15s %3s %9s %9s %9s %11s"
        % ("case", "Hz", "f5 mHz", "f60 mHz", "phase deg", "rocof mHz/s")
    )
    for f_nom in f_noms:
        for case in CASES:
            r = run_case(case, f_nom, impair=impair)
            rocof = "-" if r["rocof"] is None else "%d" % r["rocof"]
            out(
                "%-15s %3d %9.3f %9.3f %9.3f %11s"
                % (case[0], f_nom, r["f5"], r["f60"], r["phase"], rocof)
            )
            for k in worst:
                worst[k] = max(worst[k], r[k])
    return worst
