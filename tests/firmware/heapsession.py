# firmware-vm helper (not a test module)
"""One board's firmware heap on the MicroPython unix port, as firmware/main.py boots it.

    micropython tests/firmware/heapsession.py BOARD TICKS     (MICROPYPATH = the repo)

The board's port HAL runs over tests/firmware/portfakes.py (loaded before the
baseline: the fakes are not the firmware's). Boot is main.amain's order: boards and
firmware.main, the HAL, the Controller, the LinkServer; `gc.mem_alloc()` after a
collect at each step. Then a session of TICKS control ticks at 10 ms: the CP and grid
interrupts fire as on the board, a host says Hello, asks for PWM, sends a lease and
heartbeats, every frame the firmware sends is drained; a collect after each tick and
the largest live heap is the peak. Prints (bytes):

    STEP <name> <live after it>     baseline, imports, hal, controller, link
    PEAK <live>
    MODULES <firmware and boards modules loaded, space-separated>

Under CPython (no gc.mem_alloc) the figures are -1; MODULES still tells what the
board imports (tests/firmware/test_manifest.py uses that).
"""

import gc
import sys

from tests.firmware import portfakes

PORTS = {"sim": "unix", "rp2040": "rp2", "esp32s3": "esp32", "stm32": "stm32", "sim-dc": "unix"}


def live():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else -1


def install(port):
    if port == "unix":
        return
    for name in portfakes.FAKES:
        sys.modules[name] = portfakes.FAKES[name]
    if not hasattr(__import__("time"), "ticks_us"):  # CPython
        import time

        time.ticks_us = lambda: time.monotonic_ns() // 1000 & 0x3FFFFFFF


def isrs(hal, port, grid_per_tick, t):
    """The interrupts of one 10 ms control period, as the board raises them."""
    if port == "rp2":
        for _ in range(10):
            portfakes.PIO.last.handler(None)
    elif port == "stm32":
        for _ in range(10):
            for ch in hal._tim.chans:
                if ch.cb is not None:
                    ch.cb(None)
    fire = portfakes.Timer.last_callback if port == "stm32" else portfakes.MachineTimer.last
    if fire is not None:
        for _ in range(grid_per_tick):
            fire(None)
    edge = portfakes.Channel.last_capture if port == "stm32" else portfakes.Pin.last_irq
    if edge is not None and t % 20 == 0:
        edge(None)


def main(name, ticks):
    port = PORTS[name]
    install(port)
    if port != "unix":
        # CP at 6 V (state C) on every sample; NTCs at mid-scale (25 C)
        portfakes.ADC.source.update({26: 39000, 5: 39000, "PA0": 39000})
    base = live()
    print("STEP baseline", base)
    import boards
    from firmware import main as fw

    if port == "esp32":
        sys.modules["os"] = portfakes.os  # the esp32 HAL reads os.uname() (unix has none)

    print("STEP imports", live())
    board = boards.load(name)
    hal = fw.make_hal(board)
    print("STEP hal", live())
    from firmware.app.controller import Controller

    ctrl = Controller(hal, board, 0)
    print("STEP controller", live())
    from firmware.app.linkserver import LinkServer
    from firmware.link import frame
    from firmware.link import messages as m

    server = LinkServer(ctrl, board["name"].encode(), hal.reset_reason(), 0, epoch=0)  # Hello: 1
    print("STEP link", live())
    grid = board.get("grid")
    grid_per_tick = grid["fs"] // 100 if grid is not None else 0
    seq = 0
    peak = 0
    t = 0
    for i in range(ticks):
        t += 10
        wire = None
        if i == 2:
            v = m.PROTOCOL_VERSION
            wire = frame.pack(m.HostHello(v, v, 1).encode(1))
            seq = 1
        elif i == 3:  # ordered commands carry the epoch the Hello opened
            seq += 1
            wire = frame.pack(m.SetPilot(m.PILOT_PWM, 2666).encode(seq, epoch=server.epoch, order=1))
        elif i % 20 == 10:
            seq += 1
            lease = m.PowerLease(1, 0, 160, 1000, 7000)
            wire = frame.pack(lease.encode(seq, epoch=server.epoch, order=seq))
        elif i % 20 == 0:
            seq += 1
            wire = frame.pack(m.Heartbeat(t).encode(seq))
        if wire is not None:
            server.receive(wire, t)
            wire = None
        if port != "unix":
            isrs(hal, port, grid_per_tick, t)
        ctrl.tick(t)
        server.poll(t)
        server.data_to_send()
        n = live()
        if n > peak:
            peak = n
    print("PEAK", peak)
    mods = [k for k in sys.modules if k == "boards" or k.startswith("boards.") or k.startswith("firmware")]
    mods.sort()
    print("MODULES", " ".join(mods))


main(sys.argv[1], int(sys.argv[2]))
