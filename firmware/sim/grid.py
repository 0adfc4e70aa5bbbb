"""The grid as the sim board's ADC sees it: a 12-bit sample stream of the mains voltage.

A fundamental with harmonics, a DC offset, ADC noise and scheduled events:
frequency steps and ramps, phase jumps, sags and dropouts. Deterministic for a seed
(an xorshift32 noise source, no `random`), MicroPython- and CPython-compatible.

The model keeps the true phase of the fundamental (in cycles, unwrapped) per sample
when `record` is set, so tests can compare an estimator with the truth at any
fractional sample time.

Events (times in seconds from sample 0):
    step(at, df_hz)               frequency changes by df at `at`, phase continuous
    ramp(start, stop, hz_per_s)   frequency changes linearly between start and stop
    jump(at, degrees)             the phase jumps (fundamental and harmonics with it)
    sag(start, stop, depth)       amplitude x (1 - depth) between start and stop
    swell(start, stop, rise)      amplitude x (1 + rise) between start and stop
    dropout(start, stop)          no voltage (ADC sees offset and noise only)
"""

import math
from array import array

STEP = 0
RAMP = 1
JUMP = 2
SAG = 3

# harmonic order, amplitude relative to the fundamental, phase (degrees): THD 4.95 %,
# phased so that every harmonic moves the raw zero crossings the same way (worst case)
THD5 = ((3, 0.04, 90), (5, 0.025, 90), (7, 0.015, 90))


class GridModel:
    def __init__(self, fs, f_nom=50, f0=None, seed=1, peak=1600, mid=2048, bits=12,
                 noise_lsb=2.0, dc=0, harmonics=(), phase_deg=0.0, record=False):
        self.fs = fs
        self.f_nom = f_nom
        self.f0 = f_nom if f0 is None else f0
        self.peak = peak
        self.mid = mid + dc
        self.top = (1 << bits) - 1
        # triangular noise from two uniform halves: sigma = scale * sqrt(1/6)
        self.noise_scale = noise_lsb / 0.408248 / 65536
        self.harmonics = [(h, a, math.radians(p)) for h, a, p in harmonics]
        self.rms_factor = math.sqrt(1 + sum(a * a for _, a, _ in harmonics)) / math.sqrt(2)
        self.seed = (seed * 2654435761 ^ 0x5BD1E995) & 0xFFFFFFFF or 1
        self.events = []
        self.n = 0
        self.cycles = phase_deg / 360.0  # unwrapped phase of the fundamental
        self.record = array("d") if record else None

    # ---------------------------------------------------------------- events

    def step(self, at, df_hz):
        self.events.append((STEP, int(at * self.fs), 0, df_hz))
        return self

    def ramp(self, start, stop, hz_per_s):
        self.events.append((RAMP, int(start * self.fs), int(stop * self.fs), hz_per_s / self.fs))
        return self

    def jump(self, at, degrees):
        self.events.append((JUMP, int(at * self.fs), 0, degrees / 360.0))
        return self

    def sag(self, start, stop, depth):
        self.events.append((SAG, int(start * self.fs), int(stop * self.fs), 1.0 - depth))
        return self

    def swell(self, start, stop, rise):
        return self.sag(start, stop, -rise)

    def dropout(self, start, stop):
        return self.sag(start, stop, 1.0)

    def apply(self, events):
        """Events as a scenario gives them (JSON-friendly lists), e.g.
        [["step", 2.0, -0.5], ["ramp", 1, 3, 2.0], ["jump", 4, 30],
         ["sag", 5, 5.2, 0.5], ["swell", 5.5, 6, 0.15], ["dropout", 6, 9]]."""
        for e in events:
            kind = e[0]
            if kind == "step":
                self.step(e[1], e[2])
            elif kind == "ramp":
                self.ramp(e[1], e[2], e[3])
            elif kind == "jump":
                self.jump(e[1], e[2])
            elif kind == "sag":
                self.sag(e[1], e[2], e[3])
            elif kind == "swell":
                self.swell(e[1], e[2], e[3])
            elif kind == "dropout":
                self.dropout(e[1], e[2])
            else:
                raise ValueError("unknown grid event %r" % (kind,))
        return self

    @classmethod
    def from_params(cls, fs, params):
        """A model from a scenario's `grid` dict: f_nom, f0, seed, peak, dc, noise_lsb,
        thd (True: 5 % as THD5), phase_deg, events."""
        p = params or {}
        g = cls(fs, p.get("f_nom", 50), f0=p.get("f0"), seed=p.get("seed", 1),
                peak=p.get("peak", 1600), dc=p.get("dc", 0), noise_lsb=p.get("noise_lsb", 2.0),
                harmonics=THD5 if p.get("thd") else (), phase_deg=p.get("phase_deg", 0.0))
        return g.apply(p.get("events", ()))

    def due(self, elapsed_ms):
        """Samples the ADC timer has taken by `elapsed_ms` and that are not yet made:
        the sim HAL fills the ring with this many each tick."""
        return elapsed_ms * self.fs // 1000 - self.n

    # ---------------------------------------------------------------- state

    def freq_hz(self, n=None):
        """Frequency of the fundamental at sample n (default: the next sample)."""
        n = self.n if n is None else n
        f = self.f0
        for kind, a, b, v in self.events:
            if kind == STEP and n >= a:
                f += v
            elif kind == RAMP and n > a:
                f += v * ((b if n > b else n) - a)
        return f

    def scale(self, n=None):
        """Amplitude factor at sample n (1 nominal, 0 in a dropout)."""
        n = self.n if n is None else n
        k = 1.0
        for kind, a, b, v in self.events:
            if kind == SAG and a <= n < b:
                k *= v
        return k

    def rms_counts(self, n=None):
        """True RMS of the AC part at sample n, in ADC counts (noise excluded)."""
        return self.peak * self.scale(n) * self.rms_factor

    def phase_at(self, x):
        """Recorded true phase (cycles, unwrapped) at fractional sample index x."""
        i = int(x)
        if i < 0:
            i = 0
        r = self.record
        if r is None:
            raise ValueError("phase_at() needs a GridModel made with record=True")
        if i + 1 >= len(r):
            return r[len(r) - 1]
        return r[i] + (r[i + 1] - r[i]) * (x - i)

    # ---------------------------------------------------------------- samples

    def _noise(self):
        x = self.seed
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.seed = x
        return ((x & 0xFFFF) + (x >> 16) - 65535) * self.noise_scale

    def sample(self):
        n = self.n
        for kind, a, _b, v in self.events:
            if kind == JUMP and n == a:
                self.cycles += v
        c = self.cycles
        if self.record is not None:
            self.record.append(c)
        w = 2 * math.pi * c
        v = math.sin(w)
        for h, a, p in self.harmonics:
            v += a * math.sin(h * w + p)
        x = self.mid + self.peak * self.scale(n) * v + self._noise()
        self.cycles = c + self.freq_hz(n) / self.fs
        self.n = n + 1
        x = int(x + 0.5)
        if x < 0:
            return 0
        return self.top if x > self.top else x

    def fill(self, ring, start, count, mask):
        """Write `count` samples into a ring from index `start`; return the next index."""
        for _ in range(count):
            ring[start] = self.sample()
            start = (start + 1) & mask
        return start
