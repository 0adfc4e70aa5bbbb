"""What would break on a real board (issue #15), shown on the fake ports.

Each test names the MicroPython behaviour it stands for; the port sources it was read
in are cited in the HAL modules and boards/__init__.py.
"""

from __future__ import annotations

import copy
import importlib
import sys
from array import array
from typing import Any

import pytest

import boards
from firmware.app import faults, interlocks
from firmware.app.controller import Controller
from firmware.hal import base, mcu
from firmware.link import messages as m

pytestmark = pytest.mark.unit

PORTS = {"rp2": ("rp2040", "Rp2Hal"), "esp32": ("esp32s3", "Esp32Hal"), "stm32": ("stm32", "Stm32Hal")}


def build(fake_port: Any, port: str, board: dict | None = None) -> tuple[Any, Any, dict]:
    hw = fake_port(port)
    name, cls = PORTS[port]
    board = board if board is not None else boards.load(name)
    mod = importlib.import_module("firmware.hal." + port)
    hal = getattr(mod, cls)(board, "ESP32S3") if port == "esp32" else getattr(mod, cls)(board)
    return hal, hw, board


def healthy(hw: Any, board: dict) -> None:
    pins = board["pins"]
    hw.pins[pins["rcd_fault"]].level = 0
    hw.pins[pins["estop"]].level = 0
    for ch in ("ntc0_adc", "ntc1_adc"):
        if pins.get(ch) is not None:
            hw.adc_source[pins[ch]] = lambda: 2048 << 4


def cp_period(hw: Any, port: str) -> None:
    """The CP sampling interrupts of one pilot period (esp32 samples inside sample_cp)."""
    if port == "rp2":
        hw.pio_irqs[0].fire(0x300)
    elif port == "stm32":
        hw.timers[0].run()


# ------------------------------------------------------------ 1, 5: MicroPython versions


@pytest.mark.parametrize(("port", "old", "new", "what"), [
    ("rp2", (1, 25, 0), (1, 26, 0), "hard=True"),
    ("esp32", (1, 25, 1), (1, 26, 0), "duty_u16"),
])
def test_too_old_micropython_stops_boot_before_anything_runs(
        fake_port: Any, monkeypatch: pytest.MonkeyPatch, port: str, old: tuple, new: tuple,
        what: str) -> None:
    monkeypatch.setattr(mcu, "running_version", lambda: old)
    hw = fake_port(port)
    name, cls = PORTS[port]
    board = boards.load(name)
    hal_cls = getattr(importlib.import_module("firmware.hal." + port), cls)
    args = (board, "ESP32S3") if port == "esp32" else (board,)
    with pytest.raises(RuntimeError, match=r"needs MicroPython %d\.%d\.%d.*%s.*this image is %d\.%d\.%d"
                       % (new + (what,) + old)) as e:
        hal_cls(*args)
    print(e.value)
    assert not hw.wdts and not hw.machine_timers and not hw.uarts and not hw.pwms  # nothing started
    monkeypatch.setattr(mcu, "running_version", lambda: new)
    hal_cls(*args)
    assert hw.wdts and hw.uarts


def test_stm32_hold_pwm_needs_machine_pwm(fake_port: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    board = copy.deepcopy(boards.load("stm32"))
    monkeypatch.setattr(mcu, "running_version", lambda: (1, 27, 0))
    fake_port("stm32")
    hal_cls = importlib.import_module("firmware.hal.stm32").Stm32Hal
    hal_cls(board)  # no hold PWM: 1.27 will do
    board["contactor"]["hold_pct"] = 40
    with pytest.raises(RuntimeError, match=r"1\.28\.0.*machine\.PWM"):
        hal_cls(board)


def test_version_is_read_from_micropython_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mcu.running_version() is None  # CPython: the fake ports are not checked
    impl = type("impl", (), {"name": "micropython", "version": (1, 25, 0, "")})
    monkeypatch.setattr(sys, "implementation", impl)
    assert mcu.running_version() == (1, 25, 0)
    with pytest.raises(RuntimeError, match="rp2040 needs MicroPython 1.26.0"):
        mcu.check_version(boards.load("rp2040"))


# ------------------------------------------------------------ 2: ISR objects never grow


@pytest.mark.parametrize("port", ["rp2", "stm32", "esp32"])
def test_isr_objects_get_no_attribute_after_their_irq_is_enabled(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    healthy(hw, board)
    ctrl = Controller(hal, board, 0)  # the grid samplers start on the first collect
    for t in range(10, 300, 10):
        cp_period(hw, port)
        for timer in hw.machine_timers:
            timer.fire(3)
        ctrl.tick(t)
    kinds = {type(h.__self__).__name__ for h, _ in hw.isr_owners}
    assert kinds, "no IRQ handler was enabled"
    for handler, names in hw.isr_owners:
        owner = handler.__self__
        assert set(vars(owner)) == names, (type(owner).__name__, set(vars(owner)) - names)
        assert owner is not hal, "an ISR reads the HAL object, whose attributes keep changing"


# ------------------------------------------------------------ 3: the sample count


@pytest.mark.parametrize("port", ["rp2", "stm32", "esp32"])
def test_sample_cp_returns_a_count_that_moves_only_with_samples(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    first = hal.sample_cp(high, low)
    assert isinstance(first, int)
    if port == "esp32":  # samples inside the call: every call is a new window
        assert hal.sample_cp(high, low) == first + 1
        return
    assert hal.sample_cp(high, low) == first  # no IRQ since: the same count
    cp_period(hw, port)
    cp_period(hw, port)
    assert hal.sample_cp(high, low) == first + 4  # two periods, two plateaus each


def test_rp2_dead_cp_irq_opens_the_contactor(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "rp2")
    healthy(hw, board)
    cp = board["pins"]["cp_sense_adc"]
    level = [6000]

    def adc() -> int:  # the pilot at `level` mV on both plateaus' reads
        mv = level[0] if hw.pio_irqs[0]._flags & 0x100 else -12000
        return base.mv_to_counts(mv, board["cp_cal"]) << 4

    hw.adc_source[cp] = adc
    pins = board["pins"]

    def aux_follows_coil() -> None:  # the auxiliary contact: low while closed
        hw.pins[pins["contactor_feedback"]].level = 0 if hw.pins[pins["contactor_drive"]].level else 1

    ctrl = Controller(hal, board, 0)
    ctrl.host_alive(0)
    ctrl.set_pilot(m.PILOT_PWM, 2666)
    ctrl.rcd_self_test = False
    t = 0
    for _ in range(30):
        t += 10
        ctrl.host_alive(t)
        ctrl.set_lease(1, 0, 160, 1000, t)
        for _ in range(10):
            hw.pio_irqs[0].fire(0x100)
            hw.pio_irqs[0].fire(0x200)
        aux_follows_coil()
        ctrl.tick(t)
    assert ctrl.contactor == 1, (interlocks.names(ctrl.refused), faults.names(ctrl.latched))
    # the handler raised once: MicroPython never calls it again; the ring holds C
    level[0] = 9000
    for _ in range(8):
        t += 10
        ctrl.host_alive(t)
        aux_follows_coil()
        ctrl.tick(t)
    assert ctrl.contactor == 0
    assert ctrl.cp == m.CP_F
    assert hw.state_machines[0].fifo[-1] == importlib.import_module("firmware.hal.rp2").word_for_share(0)


# ------------------------------------------------------------ 4: stm32 cpu pin names


def test_stm32_pins_are_the_cpu_pins_the_board_names(fake_port: Any) -> None:
    # the fake resolves names like the port on a NUCLEO-F446RE: the board's names (its
    # Arduino labels, A4 = PC1) before the cpu names
    hal, hw, board = build(fake_port, "stm32")
    pins = board["pins"]
    adcs = {pins[r] for r in ("cp_sense_adc", "ntc0_adc", "ntc1_adc", "grid_sense_adc")}
    assert adcs == {"PA0", "PA1", "PA4", "PC0"}
    assert set(hw.adcs) == adcs
    for role in ("contactor_drive", "contactor_feedback", "rcd_fault", "rcd_test", "estop"):
        assert pins[role] in hw.pins, role
    assert hw.timers[0].channels[1].pin.id == "PA8"


def test_stm32_board_names_and_uart_clashes_are_refused() -> None:
    board = copy.deepcopy(boards.load("stm32"))
    board["pins"]["ntc1_adc"] = "A4"  # PC1 on a Nucleo, PA4 elsewhere: refused
    with pytest.raises(boards.BoardError, match="cpu names like 'PA4'"):
        boards.validate(board)
    board = copy.deepcopy(boards.load("stm32"))
    board["pins"]["status_led"] = "PB10"  # UART3's TX
    with pytest.raises(boards.BoardError, match="'uart.tx' and 'pins.status_led'"):
        boards.validate(board)


# ------------------------------------------------------------ 6: rp2 interrupt priorities


def test_rp2_cp_irq_outranks_the_grid_timer(fake_port: Any) -> None:
    hw = fake_port("rp2")
    hw.mem[0xE000E404] = 0x80808080  # IRQ 4..7 at the pico-sdk default
    hw.mem[0xE000E400] = 0x80808080  # IRQ 0..3: TIMER_IRQ_3 runs machine.Timer
    mod = importlib.import_module("firmware.hal.rp2")
    mod.Rp2Hal(boards.load("rp2040"))
    assert hw.mem[0xE000E404] == 0x40808080  # PIO0_IRQ_0 (7): 0x40, the rest untouched
    assert hw.mem[0xE000E400] == 0x80808080


# ------------------------------------------------------------ 7: the copy under the lock


def test_plateau_copy_runs_no_loop_with_irqs_off() -> None:
    off = [0]
    fake = type("machine", (), {"disable_irq": staticmethod(lambda: off.__setitem__(0, 1)),
                                "enable_irq": staticmethod(lambda s: off.__setitem__(0, 0))})
    ring = mcu.PlateauRing(fake, 4, lambda: 0)
    for v in range(base.CP_BURST):
        ring.put_high((4000 - v) << 4)
        ring.put_low((100 + v) << 4)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    locked_lines = []

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is mcu.PlateauRing.copy.__code__ and event == "line" and off[0]:
            locked_lines.append(frame.f_lineno)
        return trace

    sys.settrace(trace)
    try:
        n = ring.copy(high, low)
    finally:
        sys.settrace(None)
    assert n == 2 * base.CP_BURST
    assert list(high) == [4000 - v for v in range(base.CP_BURST)]
    assert list(low) == [100 + v for v in range(base.CP_BURST)]
    # the two slice copies and the count, each once: no per-sample bytecode under the lock
    assert len(locked_lines) == len(set(locked_lines)) <= 4, locked_lines
