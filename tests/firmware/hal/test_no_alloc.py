# firmware-vm
"""The per-tick HAL methods and the sampling ISRs allocate nothing.

Under the MicroPython unix port every call runs inside micropython.heap_lock(), so
any allocation raises MemoryError (the trick of micropython-lib's usb-device
tests). The fakes below are MicroPython-subset stand-ins for machine/rp2/pyb that
allocate nothing themselves; sys.modules takes them before the unix port's own
`machine`. On CPython the same tests check only that the calls work.
"""

import sys
import time
from array import array

import boards
from firmware.hal.base import CP_BURST
from firmware.link import messages as m

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython

    def heap_lock():
        pass

    def heap_unlock():
        pass


class CpuPins:
    """machine.Pin.cpu: the stm32 HAL resolves 'PA4' as Pin.cpu.A4."""

    def __getattr__(self, name):
        return name


class Pin:
    cpu = CpuPins()
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_RISING = 8
    last_irq = None

    def __init__(self, id, mode=-1, pull=-1, value=0):
        self.level = value

    def irq(self, handler=None, trigger=0, hard=False):
        Pin.last_irq = handler

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.duty = duty_u16

    def duty_u16(self, v):
        self.duty = v


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.v = 0

    def read_u16(self):
        self.v = (self.v + 4099) & 0xFFFF
        return self.v

    def read(self):
        self.v = (self.v + 4099) & 0xFFFF
        return self.v >> 4


class MachineTimer:
    PERIODIC = 1
    last = None

    def __init__(self, id=-1, mode=0, freq=0, period=0, tick_hz=0, hard=False, callback=None):
        MachineTimer.last = callback


class UART:
    def __init__(self, id, **kw):
        pass

    def any(self):
        return 0

    def read(self):
        return None

    def write(self, data):
        return len(data)


class WDT:
    def __init__(self, id=0, timeout=0):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class Mem32:
    def __getitem__(self, addr):
        return 0

    def __setitem__(self, addr, value):
        pass


class machine:
    PWRON_RESET = 1
    WDT_RESET = 3
    mem32 = Mem32()
    Pin = Pin
    PWM = PWM
    ADC = ADC
    UART = UART
    WDT = WDT
    Timer = MachineTimer

    @staticmethod
    def reset_cause():
        return 1

    @staticmethod
    def disable_irq():
        return 1

    @staticmethod
    def enable_irq(state):
        pass

    @staticmethod
    def reset():
        pass


class StateMachine:
    def __init__(self, id, prog, freq=0, out_base=None):
        self.words = 0

    def put(self, word):
        self.words += 1

    def active(self, v):
        pass


class PioIrq:
    def __init__(self, handler):
        self.handler = handler

    def flags(self):
        return 0x300


class PIO:
    OUT_LOW = 2
    SHIFT_RIGHT = 1
    IRQ_SM0 = 0x100
    IRQ_SM1 = 0x200
    last = None

    def __init__(self, id):
        pass

    def irq(self, handler, trigger=0, hard=False):
        PIO.last = PioIrq(handler)
        return PIO.last


def _no_assembly(**kw):
    return lambda f: f


class rp2:
    PIO = PIO
    StateMachine = StateMachine
    asm_pio = _no_assembly


class Channel:
    def __init__(self, callback):
        self.callback = callback
        self.cc = 0

    def pulse_width(self, v):
        self.cc = v

    def compare(self, v):
        self.cc = v


class Timer:
    PWM = 0
    OC_TIMING = 2
    HIGH = 0

    last_callback = None

    def __init__(self, id, freq=0):
        self.chans = []
        self.hz = freq

    def period(self):
        return 33599

    def freq(self):
        return self.hz

    def callback(self, fn):
        Timer.last_callback = fn

    def channel(self, ch, mode, pin=None, pulse_width=0, compare=0, polarity=0, callback=None):
        c = Channel(callback)
        self.chans.append(c)
        return c


class pyb:
    Timer = Timer
    Pin = Pin
    ADC = ADC


FAKES = {"machine": machine, "rp2": rp2, "pyb": pyb}
HALS = ("firmware.hal.rp2", "firmware.hal.esp32", "firmware.hal.stm32")


def _cpython_ticks_us():
    return time.monotonic_ns() // 1000 & 0x3FFFFFFF


def _with_port(port, board_name, cls_name, body):
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
    assert hal.grid_edges(es) == 0  # attaches and enables the pin IRQ
    Pin.last_irq(None)
    hal.grid_edges(es)
    heap_lock()
    try:
        for _ in range(50):
            Pin.last_irq(None)  # back to back: the hold-off drops most
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
