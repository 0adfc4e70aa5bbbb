# firmware-vm helper (not a test module)
"""The grid-sync accuracy suite: synthetic cases, run against the true phase.

Every case has 2 LSB ADC noise (sigma), 5 % THD (3rd/5th/7th, phased for the worst
zero-crossing shift), a DC offset of 40 LSB (2.5 % of the peak), on a 12-bit ADC, and
one event. Errors are measured against the grid model's true phase:

* frequency: the estimator's window (its crossing times, delay removed) against the
  true mean frequency over the same instants, for every block where the window is
  valid — 5-cycle and 60-cycle windows;
* phase: the estimate at the block's last sample against the true phase there,
  except within `settle` after a step or jump: no estimator can know of a step or a
  jump before the crossings that follow it (a 0.5 Hz step moves the phase 3.6 degrees in
  one 50 Hz cycle), so the phase is judged from 3 cycles after the event;
* ROCOF against the ramp rate (ramps) or 0 (steady, sag); not across steps and jumps,
  whose ROCOF is undefined;
* RMS against the model's RMS of the AC part, away from the sag's edges.

`run_case` returns the maximum absolute errors. The same code runs on CPython and
on the MicroPython unix port (the benchmark prints both).
"""

from firmware.app import gridsync as gsmod
from firmware.sim.grid import THD5, GridModel

NOISE_LSB = 2.0
SAG_S = 0.2  # a fault cleared in 200 ms
DC_LSB = 40

# name, event, event time (s), duration (s)
CASES = (
    ("steady +0.2Hz", None, 0, 1.45),
    ("ramp +3Hz/s", ("ramp", 3.0), 0, 1.5),
    ("ramp -3Hz/s", ("ramp", -3.0), 0, 1.5),
    ("step +0.5Hz", ("step", 0.5), 0.3, 1.6),
    ("step -0.5Hz", ("step", -0.5), 0.3, 1.6),
    ("jump +30deg", ("jump", 30), 0.3, 1.65),
    ("jump -30deg", ("jump", -30), 0.3, 1.65),
    ("sag 50%", ("sag", 0.5), 0.3, 1.85),
)


def start_freq(case, f_nom):
    """The model's starting frequency: a ramp is centred on nominal, the rest +0.2 Hz off."""
    name, event, at, duration = case
    if event and event[0] == "ramp":
        return f_nom - event[1] * duration / 2
    return f_nom + 0.2


def apply_event(g, case):
    """Schedule the case's disturbance on a model (GridModel or the edge suite's)."""
    name, event, at, duration = case
    if not event:
        return g
    kind, value = event
    if kind == "ramp":
        g.ramp(0, duration + 1, value)
    elif kind == "step":
        g.step(at, value)
    elif kind == "jump":
        g.jump(at, value)
    elif kind == "sag":
        g.sag(at, at + SAG_S, value)
    return g


def make_model(case, fs, f_nom, seed=7):
    g = GridModel(fs, f_nom, f0=start_freq(case, f_nom), seed=seed, noise_lsb=NOISE_LSB,
                  dc=DC_LSB, harmonics=THD5, phase_deg=37.0, record=True)  # fmt: skip
    return apply_event(g, case)


def _wrap(x):
    return (x + 0.5) % 1.0 - 0.5


def score(res, flags, est, event, since, phase_true, f5_err, f60_err, rocof_ready):
    """Fold one estimator update into ``res`` (this suite's and the edge suite's): frequency
    errors (callables, run only when that window is valid), phase except while a step or a
    jump settles (``since`` = (time since the event, settling time)), ROCOF against the ramp."""
    kind = event[0] if event else None
    if flags & gsmod.SHORT_OK:
        res["f5"] = max(res["f5"], abs(f5_err()))
        res["n5"] += 1
    if flags & gsmod.LONG_OK:
        res["f60"] = max(res["f60"], abs(f60_err()))
        res["n60"] += 1
    quiet = kind not in ("step", "jump") or not (0 <= since[0] < since[1])
    if flags & gsmod.PHASE_OK and quiet:
        e = abs(_wrap(est.phase16 / 65536.0 - phase_true)) * 360
        res["phase"] = max(res["phase"], e)
        res["nph"] += 1
    if kind not in ("step", "jump") and rocof_ready:
        truth = event[1] * 1000 if kind == "ramp" else 0
        e = abs(est.rocof_mhz_s - truth)
        res["rocof"] = e if res["rocof"] is None else max(res["rocof"], e)


def run_case(case, fs, f_nom, kernel=None, block_ms=10, seed=7):
    name, event, at, duration = case
    g = make_model(case, fs, f_nom, seed)
    gs = gsmod.GridSync(fs, f_nom, kernel=kernel)
    blk = fs * block_ms // 1000
    kind = event[0] if event else None
    settle = 3.0 / f_nom + 0.02
    res = {"f5": 0.0, "f60": 0.0, "phase": 0.0, "rocof": None, "rms": 0.0,
           "n5": 0, "n60": 0, "nph": 0, "jumps": 0}
    w = 0
    total = int(duration * fs)
    while g.n + blk <= total:
        w = g.fill(gs.ring, w, blk, gs.mask)
        flags = gs.process(blk)
        last = g.n - 1
        t = last / fs
        score(res, flags, gs, event, (t - at, settle), g.phase_at(last),
              lambda n=last: _ferr(gs, g, gs.short_cycles, gs.f_short_uhz, n),
              lambda n=last: _ferr(gs, g, gs.long_cycles, gs.f_long_uhz, n),
              gs.h >= 4 * gs.rocof_cycles + 3)  # fmt: skip
        edge = kind == "sag" and (at <= t < at + settle or at + SAG_S <= t < at + SAG_S + settle)
        if flags & gsmod.RMS_OK and not edge:
            truth = g.rms_counts(last) * gs.uv_per_lsb / 1000
            res["rms"] = max(res["rms"], abs(gs.rms_mv - truth) / truth * 100)
    res["jumps"] = gs.jumps
    return res


def _ferr(gs, g, cycles, f_uhz, last):
    """Estimate minus the true mean frequency over the estimator's window, in mHz."""
    a0, a1, b0, b1, now = gs.window(cycles)
    fs = g.fs

    def at(t):
        return last - ((now - t) & gsmod.TMASK) / 256.0

    xa0, xa1, xb0, xb1 = at(a0), at(a1), at(b0), at(b1)
    cycles_true = g.phase_at(xa1) - g.phase_at(xa0) + g.phase_at(xb1) - g.phase_at(xb0)
    f_true = cycles_true * fs / ((xa1 - xa0) + (xb1 - xb0))
    return f_uhz / 1000.0 - f_true * 1000.0


def table(fs_list=(4000,), f_noms=(50, 60), kernel=None, out=print):
    """Run every case and print one row per case; returns the worst of each column."""
    worst = {"f5": 0.0, "f60": 0.0, "phase": 0.0, "rms": 0.0}
    out("%-15s %5s %3s %9s %9s %9s %11s %7s" % (
        "case", "fs", "Hz", "f5 mHz", "f60 mHz", "phase deg", "rocof mHz/s", "rms %"))
    for fs in fs_list:
        for f_nom in f_noms:
            for case in CASES:
                r = run_case(case, fs, f_nom, kernel)
                rocof = "-" if r["rocof"] is None else "%d" % r["rocof"]
                f60 = "%.3f" % r["f60"] if r["n60"] else "-"
                out("%-15s %5d %3d %9.3f %9s %9.3f %11s %7.3f" % (
                    case[0], fs, f_nom, r["f5"], f60, r["phase"], rocof, r["rms"]))
                for k in worst:
                    worst[k] = max(worst[k], r[k])
    return worst


# ---------------------------------------------------------------- RMS voltage

# name, amplitude factor from 0.3 s on (held to the end)
VOLT_CASES = (("nominal", 1.0), ("sag to 50%", 0.5), ("swell to 115%", 1.15))


def run_volt_case(case, fs, f_nom, onset=0.3, duration=1.0, seed=7, block_ms=10):
    """RMS against IEEE 1547's +-1 % of nominal: the largest error of any valid
    `rms_mv` (RMS_OK) in % of the nominal RMS, before and after the step, and the time
    from the step to the first valid `rms_mv` within 1 % of nominal of the new level."""
    name, k = case
    g = GridModel(fs, f_nom, f0=f_nom + 0.2, seed=seed, noise_lsb=NOISE_LSB, dc=DC_LSB,
                  harmonics=THD5, phase_deg=37.0)
    if k != 1.0:
        g.sag(onset, duration + 1, 1.0 - k)
    gs = gsmod.GridSync(fs, f_nom)
    nominal = g.rms_counts(0) * gs.uv_per_lsb / 1000
    blk = fs * block_ms // 1000
    w = 0
    err = 0.0
    settled = None
    total = int(duration * fs)
    while g.n + blk <= total:
        w = g.fill(gs.ring, w, blk, gs.mask)
        flags = gs.process(blk)
        last = g.n - 1
        if not flags & gsmod.RMS_OK:
            continue
        e = abs(gs.rms_mv - g.rms_counts(last) * gs.uv_per_lsb / 1000) / nominal * 100
        if last / fs >= onset and settled is None:
            if e > 1.0:
                continue  # still the value from before the step: that is the latency
            settled = (last + 1) / fs - onset
        err = max(err, e)
    return {"err": err, "latency_ms": None if settled is None else settled * 1000}


def volt_table(fs_list=(4000,), f_noms=(50, 60), out=print, onsets=6):
    """One row per case: the worst error over `onsets` step phases, and the range of the
    step-to-valid latency (1 ms blocks for it, so that the block does not hide it)."""
    worst = 0.0
    out("%-15s %5s %3s %9s %16s %10s" % ("case", "fs", "Hz", "max err %", "latency ms", "rms_lat ms"))
    for fs in fs_list:
        for f_nom in f_noms:
            for case in VOLT_CASES:
                err = 0.0
                lats = []
                for i in range(onsets):
                    onset = 0.3 + i / (f_nom * onsets)
                    r = run_volt_case(case, fs, f_nom, onset=onset)
                    err = max(err, r["err"])
                    if case[1] != 1.0:
                        lats.append(run_volt_case(case, fs, f_nom, onset=onset, block_ms=1)["latency_ms"])
                lat = "-"
                if lats and None not in lats:
                    lat = "%.1f-%.1f" % (min(lats), max(lats))
                out("%-15s %5d %3d %9.3f %16s %10d" % (case[0], fs, f_nom, err, lat,
                                                       gsmod.GridSync(fs, f_nom).rms_latency_ms()))
                worst = max(worst, err)
    return worst


# ---------------------------------------------------------------- fast voltage (trips)

# name, amplitude factor from the step on, the trip threshold (per mille), ADC peak
# (1200 leaves headroom for the swell; the sim board's 1600 clips at about 1.2 pu)
FAST_CASES = (("sag to 40%", 0.40, 450, 1600), ("sag to 10%", 0.10, 450, 1600),
              ("swell to 125%", 1.25, 1200, 1200))


def run_fast_case(case, fs, f_nom, onset, seed=7):
    """The fast voltage through one step, fed in 1 ms blocks: (ms from the step until a
    value beyond the threshold is out, ms from the step to where the guard starts its
    timer: the start of the value before the first beyond, < 0 is early; the largest
    error of the values from 30 ms after the step on, in % of the new level)."""
    name, k, pm, peak = case
    g = GridModel(fs, f_nom, f0=f_nom + 0.2, seed=seed, noise_lsb=NOISE_LSB, dc=DC_LSB,
                  harmonics=THD5, phase_deg=37.0, peak=peak)
    g.sag(onset, onset + 1, 1.0 - k)
    gs = gsmod.GridSync(fs, f_nom, peak_counts=peak, uv_per_lsb=203125 * 1600 // peak)
    nominal = g.peak * g.rms_factor * gs.uv_per_lsb / 1000
    limit = nominal * pm / 1000
    step = int(onset * fs) / fs  # the model's first sample of the step
    blk = fs // 1000
    w = 0
    prev_start = None
    seen = timer = None
    err = 0.0
    while g.n < (onset + 0.25) * fs:
        w = g.fill(gs.ring, w, blk, gs.mask)
        gs.process(blk)
        now = g.n / fs
        for i in range(gs.vf_n):
            v = gs.vf_mv[i]
            start = now - gs.vf_age_ms(i) / 1000
            if seen is None and now > step and (v < limit if k < 1 else v > limit):
                seen = (now - step) * 1000
                timer = (prev_start - step) * 1000
            prev_start = start
            if start > step + 0.03:
                err = max(err, abs(v - nominal * k) / (nominal * k) * 100)
    return seen, timer, err


def fast_table(fs_list=(1000, 2000, 4000, 10000), f_noms=(50, 60), out=print, onsets=12):
    """Latency of the fast voltage, min-max over `onsets` step phases: when the first
    value beyond the trip threshold is out, and where the guard's timer starts; and the
    values' largest error at the new level. Returns the latest timer start (<= 0: the
    timer never starts after the step)."""
    out("%-15s %5s %3s %15s %16s %13s" % ("case", "fs", "Hz", "seen after ms",
                                           "timer start ms", "err % of lvl"))
    latest = None
    for fs in fs_list:
        for f_nom in f_noms:
            for case in FAST_CASES:
                seen = []
                start = []
                err = 0.0
                for i in range(onsets):
                    a, b, e = run_fast_case(case, fs, f_nom, 0.3 + i / (f_nom * onsets))
                    seen.append(a)
                    start.append(b)
                    err = max(err, e)
                out("%-15s %5d %3d %6.1f - %6.1f %7.1f - %6.1f %13.2f" % (
                    case[0], fs, f_nom, min(seen), max(seen), min(start), max(start), err))
                latest = max(start) if latest is None else max(latest, max(start))
    return latest
