# firmware-vm
"""The per-tick HAL methods and the sampling ISRs allocate nothing.

Under the MicroPython unix port every call runs inside micropython.heap_lock(), so
any allocation raises MemoryError (the trick of micropython-lib's usb-device
tests). The fakes (tests/firmware/portfakes.py) are MicroPython-subset stand-ins for machine/rp2/pyb that
allocate nothing themselves; sys.modules takes them before the unix port's own
`machine`. On CPython the same tests check only that the calls work.
"""

import sys
import time
from array import array

import boards
from firmware.hal.base import CP_BURST
from firmware.link import messages as m
from tests.firmware.heaplock import heap_lock, heap_unlock
from tests.firmware.portfakes import FAKES, HALS, PIO, Channel, MachineTimer, Pin, Timer


def _cpython_ticks_us():
    return time.monotonic_ns() // 1000 & 0x3FFFFFFF


def _with_port(port, board_name, cls_name, body, extra=None):
    shim = not hasattr(time, "ticks_us")  # CPython: the esp32 burst needs a us clock
    if shim:
        time.ticks_us = _cpython_ticks_us
    saved = {}
    for name in FAKES:
        saved[name] = sys.modules.get(name)
        sys.modules[name] = FAKES[name]
    try:
        mod = __import__("firmware.hal." + port, None, None, (cls_name,))
        cls = getattr(mod, cls_name)
        board = boards.load(board_name)
        if extra:  # sections and pins a test adds to the board
            board = dict(board, **extra)
            board["pins"] = dict(boards.load(board_name)["pins"], **extra.get("pins", {}))
        hal = cls(board, "ESP32S3") if port == "esp32" else cls(board)
        body(hal)
    finally:
        for name in FAKES:
            if saved[name] is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = saved[name]
        for name in HALS:
            if name in sys.modules:
                sys.modules.pop(name)
        if shim:
            del time.ticks_us


def _tick_calls(hal, extra):
    high = array("H", bytes(2 * CP_BURST))
    low = array("H", bytes(2 * CP_BURST))
    extra()  # warm-up outside the lock: first calls may intern or cache
    hal.sample_cp(high, low)
    heap_lock()
    try:
        for duty in (500, 1000, 5333, 9600, 10000):
            hal.set_pilot(m.PILOT_PWM, duty)
            extra()
            hal.sample_cp(high, low)
        hal.set_pilot(m.PILOT_X1, 0)
        hal.set_pilot(m.PILOT_F, 0)
        hal.set_contactor(1)
        hal.sample_cp(high, low)
        hal.set_contactor(0)
        hal.contactor_feedback()
        hal.rcd_fault()
        hal.rcd_test(1)
        hal.rcd_test(0)
        hal.estop()
        hal.manual_override()
        for ch in range(hal.board["ntc"]["channels"]):
            hal.ntc_counts(ch)
        hal.current_ma()
        hal.feed_wdt()
        hal.reset_reason()
        hal.duty_steps()
    finally:
        heap_unlock()
    assert high[0] <= 4095 and low[0] <= 4095


def test_rp2_tick_and_isr_allocate_nothing():
    def body(hal):
        def isr():
            PIO.last.handler(None)

        _tick_calls(hal, isr)

    _with_port("rp2", "rp2040", "Rp2Hal", body)


def test_esp32_tick_allocates_nothing():
    def body(hal):
        _tick_calls(hal, lambda: None)
        assert hal.burst_reads > 0

    _with_port("esp32", "esp32s3", "Esp32Hal", body)


def test_esp32_hold_pwm_allocates_nothing():
    # the esp32s3 board has hold_pct 50: set_contactor drives a PWM there
    def body(hal):
        assert hal._coil_pwm is not None
        _tick_calls(hal, lambda: None)

    _with_port("esp32", "esp32s3", "Esp32Hal", body)


def test_stm32_tick_and_isr_allocate_nothing():
    def body(hal):
        def isr():
            hal._ring.on_high(None)
            hal._ring.on_low(None)

        _tick_calls(hal, isr)

    _with_port("stm32", "stm32", "Stm32Hal", body)


def _grid_isr_calls(hal, fire):
    """The grid sampler's ISR and the controller's collect, under the heap lock."""
    from firmware.app.gridsync import from_config

    gs = from_config(hal.board["grid"])
    assert hal.grid_collect(gs) == 0  # attaches and starts the timer (may allocate)
    fire()  # warm-up
    hal.grid_collect(gs)
    heap_lock()
    try:
        for _ in range(gs.mask + 40):  # past the end of the ring: the wrap
            fire()
        n = hal.grid_collect(gs)
        g16 = hal.converter_phase16(12345)
    finally:
        heap_unlock()
    assert g16 == 12345
    return n, gs


def test_rp2_grid_isr_allocates_nothing():
    def body(hal):
        n, gs = _grid_isr_calls(hal, lambda: MachineTimer.last(None))
        assert n == gs.mask + 40

    _with_port("rp2", "rp2040", "Rp2Hal", body)


def test_esp32_grid_callback_allocates_nothing():
    def body(hal):
        n, gs = _grid_isr_calls(hal, lambda: MachineTimer.last(None))
        assert 0 <= n <= gs.mask + 1, n  # slots by the real clock: how many fell due varies

    _with_port("esp32", "esp32s3", "Esp32Hal", body)


def test_stm32_grid_isr_allocates_nothing():
    def body(hal):
        n, gs = _grid_isr_calls(hal, lambda: Timer.last_callback(None))
        assert n == gs.mask + 40

    _with_port("stm32", "stm32", "Stm32Hal", body)


def _edge_isr_calls(hal):
    from firmware.app.edgesync import from_config

    es = from_config(hal.board["grid"])
    assert hal.grid_edges(es) == 0  # attaches and enables the pin (or capture) IRQ
    edge = Channel.last_capture if hal.board["port"] == "stm32" else Pin.last_irq
    edge(None)
    hal.grid_edges(es)
    heap_lock()
    try:
        for _ in range(50):
            edge(None)  # back to back: the hold-off drops most
        n = hal.grid_edges(es)
        now = hal.grid_now_us()
        es.process(n, now)
    finally:
        heap_unlock()
    assert 0 <= now < 1 << 30
    return n


def test_rp2_zero_cross_isr_allocates_nothing():
    _with_port("rp2", "rp2040", "Rp2Hal", _edge_isr_calls)


def test_stm32_zero_cross_isr_allocates_nothing():
    _with_port("stm32", "stm32", "Stm32Hal", _edge_isr_calls)


def test_rp2_pp_and_lock_allocate_nothing():
    """issue 15: the PP ADC and the lock's outputs and feedback on a port HAL."""
    extra = {"pp": {"mode": "iec", "r_pull": 1000}, "lock": {"kind": "motor"},
             "pins": {"pp_adc": 29, "lock_a": 20, "lock_b": 21, "lock_feedback": 22}}

    def body(hal):
        hal.pp_counts()  # warm-up
        heap_lock()
        try:
            for d in (1, 0, -1, 0):
                hal.lock_drive(d)
                hal.lock_feedback()
                hal.pp_counts()
        finally:
            heap_unlock()
        assert 0 <= hal.pp_counts() <= 4095

    _with_port("rp2", "rp2040", "Rp2Hal", body, extra)
