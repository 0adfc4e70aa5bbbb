# ruff: noqa: F821  (include, module, options: the globals MicroPython's manifest tool provides)
"""MicroPython freeze manifest: the firmware of one board as frozen bytecode.

Frozen modules run from flash: their bytecode and constants never enter the heap,
which on the smaller boards is what makes the firmware fit (docs/hardware.md,
"Production image"). A port build takes a board manifest of your own, e.g.

    include("$(PORT_DIR)/boards/manifest.py")       # the port's usual frozen modules
    include("/path/to/v2gate/manifest.py", board="rp2040")

    make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/that/manifest.py

Only the modules the board imports are frozen: its HAL, grid sensing where the board
has a `grid` section, the connector lock where it has a `lock` section, the zero-cross estimator where it has pins.grid_zero_cross, the
sim plant only for the unix port. tests/firmware/test_manifest.py checks the lists
against what each board really imports. /main.py (`import firmware.main;
firmware.main.run()`) and /board.py (`BOARD = {"name": "rp2040"}`) stay on the
board's filesystem.
"""

import os

options.defaults(board=None)
BOARD = options.board or os.environ.get("V2GATE_BOARD")

COMMON = (
    "boards/__init__.py",
    "firmware/__init__.py",
    "firmware/main.py",
    "firmware/compat.py",
    "firmware/app/__init__.py",
    "firmware/app/controller.py",
    "firmware/app/events.py",
    "firmware/app/faults.py",
    "firmware/app/interlocks.py",
    "firmware/app/linkserver.py",
    "firmware/app/pilot.py",
    "firmware/app/thermal.py",
    "firmware/app/proximity.py",  # issue 15
    "firmware/app/wear.py",  # issue 15
    "firmware/app/cable.py",  # issue 15
    "firmware/hal/__init__.py",
    "firmware/hal/base.py",
    "firmware/kernels/__init__.py",
    "firmware/kernels/cp.py",
    "firmware/link/__init__.py",
    "firmware/link/cobs.py",
    "firmware/link/frame.py",
    "firmware/link/messages.py",
)
GRID = ("firmware/app/gridfunc.py", "firmware/app/gridsync.py", "firmware/kernels/zerocross.py")
ZERO_CROSS = ("firmware/app/edgesync.py",)
LOCK = ("firmware/app/lock.py",)  # issue 15: boards with a connector lock
DC = ("firmware/app/dc.py", "firmware/link/dcmessages.py", "boards/dccheck.py")  # `dc` boards
SIM_DC = ("firmware/sim/dcplant.py", "firmware/sim/dcside.py")  # and on the unix port
MCU = ("firmware/hal/mcu.py", "firmware/hal/gridin.py")
PORT = {
    "rp2": MCU + ("firmware/hal/rp2.py",),
    "esp32": MCU + ("firmware/hal/esp32.py",),
    "stm32": MCU + ("firmware/hal/stm32.py",),
    "unix": ("firmware/hal/sim.py", "firmware/sim/__init__.py", "firmware/sim/grid.py",
             "firmware/sim/plant.py"),
}


def board_modules(name):
    """The .py files (repository paths) board `name` imports."""
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else "."
    spec = {}
    module_name = name.replace("-", "_")  # board sim-dc is boards/sim_dc.py
    with open(os.path.join(here, "boards", module_name + ".py")) as f:
        code = f.read()
    import sys

    if here not in sys.path:
        sys.path.insert(0, here)  # a board may build on another (sim-dc on sim)
    files = ("boards/sim.py",) if "from boards.sim import" in code else ()
    exec(code, spec)
    board = spec["BOARD"]
    files = COMMON + ("boards/" + module_name + ".py",) + files + PORT[board["port"]]
    if board.get("lock") is not None:
        files += LOCK
    if board.get("dc") is not None:
        files += DC + (SIM_DC if board["port"] == "unix" else ("firmware/hal/mcudc.py",))
    if board.get("grid") is not None:
        files += GRID
        if board["pins"].get("grid_zero_cross") is not None:
            files += ZERO_CROSS
    return files


if BOARD is not None:
    done = set()
    for name in BOARD.split(","):  # "sim,rp2040": the union (a test image for several)
        for path in board_modules(name):
            if path not in done:
                done.add(path)
                module(path)
elif "module" in globals():
    raise ValueError("manifest.py: name the board: include(..., board='rp2040') or V2GATE_BOARD")
