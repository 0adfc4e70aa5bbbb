"""Small fake `machine`, `rp2` and `pyb` modules that record what the HALs do.

CPython has no `machine`; these fakes stand in for it only in tests/firmware/hal.
They model what the HALs rely on: Pin levels and IRQs, PWM duty_u16 (65535 = constant
high), ADC read_u16 from a per-pin source, a UART with a byte queue, the WDT,
reset_cause with each port's own constants, disable/enable_irq, mem32, machine.Timer
(the test fires its callback), pyb.Timer/pyb.ADC; rp2.asm_pio assembles the program
into a list that tests/firmware/hal/test_rp2.py executes cycle by cycle.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

# machine.reset_cause() constants per port (ports/*/modmachine.c)
RESET_CONSTANTS = {
    "rp2": {"PWRON_RESET": 1, "WDT_RESET": 3},
    "esp32": {"PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4, "SOFT_RESET": 5},
    "stm32": {"SOFT_RESET": 0, "PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4},
}


class Hardware:
    """Everything the fakes record, keyed by pin id."""

    def __init__(self, port: str) -> None:
        self.port = port
        self.pins: dict[Any, FakePin] = {}
        self.pwms: dict[Any, FakePWM] = {}
        self.adcs: dict[Any, FakeADC] = {}
        self.adc_source: dict[Any, Callable[[], int]] = {}
        self.uarts: list[FakeUART] = []
        self.wdts: list[FakeWDT] = []
        self.cause = RESET_CONSTANTS[port]["PWRON_RESET"]
        self.resets = 0
        self.irq_disabled = 0
        self.irq_off_calls = 0
        self.mem: dict[int, int] = {}
        self.state_machines: list[FakeStateMachine] = []
        self.pio_irqs: list[FakePioIrq] = []
        self.timers: list[FakeTimer] = []
        self.machine_timers: list[FakeMachineTimer] = []
        self.irq_in_isr: list[int] = []  # irq_disabled as each ADC read saw it
        # every IRQ handler as it was enabled: (handler, the attribute names its object
        # had at that moment), to check that nothing is added afterwards
        self.isr_owners: list[tuple[Any, frozenset[str]]] = []

    def enabled(self, handler: Any) -> None:
        owner = getattr(handler, "__self__", None)
        if owner is not None:
            self.isr_owners.append((handler, frozenset(vars(owner))))


# MicroPython's NUCLEO_F446RE pins.csv: the board's own names, which a string given to
# machine.Pin matches before the cpu names (ports/stm32/pin.c, pin_find)
NUCLEO_F446RE_NAMES = {
    "D0": "PA3", "D1": "PA2", "D2": "PA10", "D3": "PB3", "D4": "PB5", "D5": "PB4", "D6": "PB10",
    "D7": "PA8", "D8": "PA9", "D9": "PC7", "D10": "PB6", "D11": "PA7", "D12": "PA6", "D13": "PA5",
    "D14": "PB9", "D15": "PB8", "A0": "PA0", "A1": "PA1", "A2": "PA4", "A3": "PB0", "A4": "PC1",
    "A5": "PC0", "LED": "PA5", "SW": "PC13",
}


def stm32_pin_name(name: Any) -> Any:
    """The cpu pin (as 'PA4') that the stm32 port resolves a pin name to on a Nucleo."""
    if not isinstance(name, str):
        return name
    if name in NUCLEO_F446RE_NAMES:
        return NUCLEO_F446RE_NAMES[name]
    return name if name.startswith("P") else "P" + name  # 'PA4' is a board name too


class CpuPins:
    """machine.Pin.cpu: attribute 'A4' is the cpu pin PA4, whatever the board calls it."""

    def __getattr__(self, name: str) -> str:
        return "P" + name


class FakePin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 4
    IRQ_RISING = 8
    hw: Hardware
    handler: Callable[[Any], None] | None = None

    def __init__(self, id: Any, mode: int = -1, pull: int = -1, value: int | None = None) -> None:
        if self.hw.port == "stm32":
            id = stm32_pin_name(id)
        self.id = id
        self.mode = mode
        self.pull = pull
        self.level = value if value is not None else (1 if pull == self.PULL_UP else 0)
        old = self.hw.pins.get(id)
        if old is not None and mode == -1:
            self.level = old.level
        self.hw.pins[id] = self

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self.level
        self.level = int(v)
        return None

    def irq(self, handler: Callable[[Any], None] | None = None, trigger: int = 0,
            hard: bool = False) -> None:
        self.handler = handler
        self.trigger = trigger
        self.hard = hard
        self.hw.enabled(handler)

    def fire(self) -> None:
        """The pin's IRQ, as the hardware would call it on an edge."""
        assert self.handler is not None
        self.handler(self)


class FakePWM:
    hw: Hardware

    def __init__(self, pin: FakePin, freq: int = 0, duty_u16: int = 0) -> None:
        self.pin = pin
        self.freq_hz = freq
        self.duty = duty_u16
        self.history = [duty_u16]
        self.hw.pwms[pin.id] = self

    def duty_u16(self, v: int | None = None) -> int | None:
        if v is None:
            return self.duty
        assert 0 <= v <= 65535
        self.duty = v
        self.history.append(v)
        return None


class FakeADC:
    ATTN_11DB = 3
    hw: Hardware

    def __init__(self, pin: FakePin, atten: int | None = None) -> None:
        if not isinstance(pin, FakePin):  # pyb.ADC takes a pin name too
            pin = type("Pin", (FakePin,), {"hw": self.hw})(pin)
        self.pin = pin
        self.atten = atten
        self.reads = 0
        self.irqs_were_off = False
        self.hw.adcs[pin.id] = self

    def read_u16(self) -> int:
        self.reads += 1
        self.irqs_were_off = self.hw.irq_disabled > 0
        self.hw.irq_in_isr.append(self.hw.irq_disabled)
        return self.hw.adc_source.get(self.pin.id, lambda: 0)()

    def read(self) -> int:
        """pyb.ADC.read: 12 bits (the source gives read_u16 counts)."""
        return self.read_u16() >> 4


class FakeUART:
    hw: Hardware

    def __init__(self, id: int, **kw: Any) -> None:
        self.id = id
        self.kw = kw
        self.rx = bytearray()
        self.tx = bytearray()
        self.room = 1 << 20  # bytes the TX buffer takes per write
        self.hw.uarts.append(self)

    def any(self) -> int:
        return len(self.rx)

    def read(self) -> bytes | None:
        if not self.rx:
            return None
        data = bytes(self.rx)
        self.rx.clear()
        return data

    def write(self, data: bytes) -> int | None:
        n = min(len(data), self.room)
        self.tx += data[:n]
        return n or None


class FakeWDT:
    hw: Hardware

    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.timeout = timeout
        self.feeds = 0
        self.hw.wdts.append(self)

    def feed(self) -> None:
        self.feeds += 1


class Mem32:
    def __init__(self, hw: Hardware) -> None:
        self.hw = hw

    def __getitem__(self, addr: int) -> int:
        return self.hw.mem.get(addr, 0)

    def __setitem__(self, addr: int, value: int) -> None:
        self.hw.mem[addr] = value


class FakeMachineTimer:
    """machine.Timer: records how it was set up; `fire(n)` runs the callback n times."""

    PERIODIC = 1
    ONE_SHOT = 0
    hw: Hardware

    def __init__(self, id: int = -1, **kw: Any) -> None:
        self.id = id
        self.kw = kw
        self.callback = kw.get("callback")
        self.hw.machine_timers.append(self)
        self.hw.enabled(self.callback)

    def fire(self, n: int = 1) -> None:
        for _ in range(n):
            self.callback(self)


def make_machine(hw: Hardware) -> types.ModuleType:
    m = types.ModuleType("machine")
    for cls in (FakePin, FakePWM, FakeADC, FakeUART, FakeWDT, FakeMachineTimer):
        name = "Timer" if cls is FakeMachineTimer else cls.__name__[4:]
        sub = type(name, (cls,), {"hw": hw})
        setattr(m, sub.__name__, sub)
    m.Pin.cpu = CpuPins()  # type: ignore[attr-defined]
    for name, value in RESET_CONSTANTS[hw.port].items():
        setattr(m, name, value)

    def reset_cause() -> int:
        return hw.cause

    def reset() -> None:
        hw.resets += 1

    def disable_irq() -> int:
        hw.irq_disabled += 1
        hw.irq_off_calls += 1
        return 0x55

    def enable_irq(state: int) -> None:
        assert state == 0x55
        hw.irq_disabled -= 1

    m.reset_cause = reset_cause  # type: ignore[attr-defined]
    m.reset = reset  # type: ignore[attr-defined]
    m.disable_irq = disable_irq  # type: ignore[attr-defined]
    m.enable_irq = enable_irq  # type: ignore[attr-defined]
    m.mem32 = Mem32(hw)  # type: ignore[attr-defined]
    return m


# ------------------------------------------------------------------------ rp2


class Instr:
    def __init__(self, op: str, *args: Any) -> None:
        self.op = op
        self.args = args
        self.delay = 0

    def __getitem__(self, delay: int) -> Instr:
        assert 0 <= delay <= 31, "PIO delay field is 5 bits"
        self.delay = delay
        return self


class Program:
    def __init__(self, kw: dict[str, Any]) -> None:
        self.kw = kw
        self.instrs: list[Instr] = []
        self.labels: dict[str, int] = {}
        self.wrap_target = 0
        self.wrap = -1


_PIO_NAMES = (
    "pins", "x", "y", "null", "isr", "osr", "y_dec", "x_dec", "not_x", "not_y", "noblock", "block",
)


def asm_pio(**kw: Any) -> Callable[[Callable[[], None]], Program]:
    """Assemble like rp2.asm_pio: the program's names are globals while it runs."""

    def dec(f: Callable[[], None]) -> Program:
        prog = Program(kw)

        def emit(op: str) -> Callable[..., Instr]:
            def e(*args: Any) -> Instr:
                ins = Instr(op, *args)
                prog.instrs.append(ins)
                return ins

            return e

        def label(name: str) -> None:
            prog.labels[name] = len(prog.instrs)

        def wrap_target() -> None:
            prog.wrap_target = len(prog.instrs)

        def wrap() -> None:
            prog.wrap = len(prog.instrs) - 1

        names: dict[str, Any] = {n: n for n in _PIO_NAMES}
        names.update({op: emit(op) for op in ("pull", "mov", "out", "irq", "jmp", "set", "nop")})
        names.update(label=label, wrap_target=wrap_target, wrap=wrap)
        gl = f.__globals__
        saved = {n: gl[n] for n in names if n in gl}
        gl.update(names)
        try:
            f()
        finally:
            for n in names:
                gl.pop(n, None)
            gl.update(saved)
        if prog.wrap < 0:
            prog.wrap = len(prog.instrs) - 1
        return prog

    return dec


class FakeStateMachine:
    hw: Hardware

    def __init__(self, id: int, prog: Program, freq: int = 0, out_base: FakePin | None = None) -> None:
        self.id = id
        self.prog = prog
        self.freq = freq
        self.out_base = out_base
        self.fifo: list[int] = []
        self.active_state = 0
        self.hw.state_machines.append(self)

    def put(self, word: int) -> None:
        assert 0 <= word < 1 << 30, "a word >= 2**30 is a big int on a 32-bit port"
        self.fifo.append(word)

    def active(self, v: int | None = None) -> int:
        if v is not None:
            self.active_state = v
        return self.active_state


class FakePioIrq:
    def __init__(self, pio: FakePIO, handler: Callable[[Any], None], trigger: int, hard: bool) -> None:
        self.pio = pio
        self.handler = handler
        self.trigger = trigger
        self.hard = hard
        self._flags = 0
        pio.hw.enabled(handler)

    def flags(self) -> int:
        return self._flags

    def fire(self, flags: int) -> None:
        self._flags = flags & self.trigger
        self.handler(self.pio)


class FakePIO:
    OUT_LOW = 2
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    IRQ_SM0 = 0x100
    IRQ_SM1 = 0x200
    IRQ_SM2 = 0x400
    IRQ_SM3 = 0x800
    hw: Hardware

    def __init__(self, id: int) -> None:
        self.id = id

    def irq(self, handler: Callable[[Any], None], trigger: int = 0xF00, hard: bool = False) -> FakePioIrq:
        irq = FakePioIrq(self, handler, trigger, hard)
        self.hw.pio_irqs.append(irq)
        return irq


def make_rp2(hw: Hardware) -> types.ModuleType:
    m = types.ModuleType("rp2")
    m.asm_pio = asm_pio  # type: ignore[attr-defined]
    m.PIO = type("PIO", (FakePIO,), {"hw": hw})  # type: ignore[attr-defined]
    m.StateMachine = type("StateMachine", (FakeStateMachine,), {"hw": hw})  # type: ignore[attr-defined]
    return m


def run_pio(prog: Program, word: int, periods: int = 2) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Execute the CP program on `word` (FIFO holds it once, then empty) and return
    (pin changes as (cycle, level), irq flags raised as (cycle, flag)).

    Only the instructions the program uses are modelled, with real PIO timing: one
    cycle per instruction plus its delay; `jmp y--` tests Y then decrements it.
    """
    assert prog.kw.get("out_shiftdir") == FakePIO.SHIFT_RIGHT
    fifo = [word]
    x = y = osr = 0
    osr_bits = 0
    pc = prog.wrap_target
    t = 0
    level = -1
    edges: list[tuple[int, int]] = []
    irqs: list[tuple[int, int]] = []
    wraps = 0
    while wraps <= periods:
        ins = prog.instrs[pc]
        nxt = pc + 1
        if ins.op == "pull":
            assert ins.args == ("noblock",)
            osr = fifo.pop(0) if fifo else x
            osr_bits = 0
        elif ins.op == "mov":
            assert ins.args == ("x", "osr")
            x = osr
        elif ins.op == "out":
            dest, n = ins.args
            value = (osr >> osr_bits) & ((1 << n) - 1)
            osr_bits += n
            if dest == "pins":
                if value != level:
                    edges.append((t, value))
                level = value
            else:
                assert dest == "y"
                y = value
        elif ins.op == "irq":
            irqs.append((t, ins.args[0]))
        elif ins.op == "jmp":
            cond, target = ins.args
            assert cond == "y_dec"
            if y != 0:
                nxt = prog.labels[target]
            y = (y - 1) & 0xFFFFFFFF
        else:
            raise AssertionError("instruction %s not modelled" % ins.op)
        t += 1 + ins.delay
        if pc == prog.wrap and nxt == pc + 1:
            nxt = prog.wrap_target
            wraps += 1
        pc = nxt
    return edges, irqs


# ------------------------------------------------------------------------ pyb


class FakeChannel:
    def __init__(self, timer: FakeTimer, ch: int, mode: int, pin: Any, pulse_width: int | None,
                 compare: int | None, callback: Callable[[Any], None] | None) -> None:
        self.timer = timer
        self.ch = ch
        self.mode = mode
        self.pin = pin
        self.cc = pulse_width if pulse_width is not None else (compare or 0)
        self.cb = callback
        self.polarity: int | None = None

    def callback(self, fn: Callable[[Any], None] | None) -> None:
        """Enable (or with None disable) the channel's compare/capture IRQ."""
        self.cb = fn
        if fn is not None:
            self.timer.hw.enabled(fn)

    def capture(self) -> int:
        return self.cc

    def edge(self, at_us: int, irq_us: int) -> None:
        """Input capture: the edge at `at_us` latches the (1 MHz) counter, and the IRQ
        runs at `irq_us` on the ticks_us clock (which the counter follows)."""
        assert self.cb is not None
        self.cc = at_us & 0xFFFF
        self.timer.hw.clock.t = irq_us  # type: ignore[attr-defined]
        self.cb(self.timer)

    def pulse_width(self, v: int | None = None) -> int | None:
        if v is None:
            return self.cc
        assert 0 <= v <= self.timer.arr + 1
        self.cc = v
        return None

    compare = pulse_width


class FakeTimer:
    PWM = 0
    OC_TIMING = 2
    IC = 4
    RISING = 10
    FALLING = 11
    HIGH = 0  # OC polarities (STM32 HAL's TIM_OCPOLARITY_*)
    LOW = 2
    hw: Hardware
    # what pyb picks for 1 kHz on a NUCLEO-F446RE's TIM1 (168 MHz, MicroPython's board
    # definition): 168000 ticks, divided by 5 (prescaler 4) to fit 16 bits
    arr = 33599

    source_hz = 84_000_000  # the Nucleo-F446RE's APB1 timer clock (TIM7); TIM1 runs at 168 MHz

    def __init__(self, id: int, freq: int = 0) -> None:
        self.id = id
        self.freq_hz = freq
        self.channels: dict[int, FakeChannel] = {}
        self.count = 0
        self.irq_callback: Callable[[Any], None] | None = None
        self.hw.timers.append(self)

    def period(self) -> int:
        return self.arr

    def freq(self) -> int | float:
        """What pyb reports: the frequency the whole-tick period really gives (a float
        where it is not an integer)."""
        ticks = round(self.source_hz / self.freq_hz)
        f = self.source_hz / ticks
        return int(f) if f == int(f) else f

    def callback(self, fn: Callable[[Any], None] | None) -> None:
        self.irq_callback = fn
        self.hw.enabled(fn)

    def source_freq(self) -> int:
        return 168_000_000 if self.id in (1, 8) else self.source_hz  # APB2 timers: the core clock

    def init(self, prescaler: int = 0, period: int = 0) -> None:
        self.prescaler = prescaler
        self.period_reg = period

    def counter(self) -> int:
        """Counts microseconds where init() set 1 MHz: follows the fake ticks_us."""
        assert self.source_freq() // (self.prescaler + 1) == 1_000_000
        return self.hw.clock.t & self.period_reg  # type: ignore[attr-defined]

    def fire(self, n: int = 1) -> None:
        """The update IRQ, n times."""
        for _ in range(n):
            assert self.irq_callback is not None
            self.irq_callback(self)

    def channel(self, ch: int, mode: int, pin: Any = None, pulse_width: int | None = None,
                compare: int | None = None, polarity: int | None = None,
                callback: Callable[[Any], None] | None = None) -> FakeChannel:
        allowed = (self.RISING, self.FALLING) if mode == self.IC else (None, self.HIGH, self.LOW)
        if polarity not in allowed:
            raise ValueError("invalid polarity (%d)" % polarity)  # as pyb says
        c = FakeChannel(self, ch, mode, pin, pulse_width, compare, callback)
        c.polarity = polarity
        self.channels[ch] = c
        if callback is not None:
            self.hw.enabled(callback)
        return c

    def run(self, periods: int = 1) -> None:
        """Fire the compare callbacks of OC channels in counter order, `periods` times."""
        for _ in range(periods):
            for c in sorted(self.channels.values(), key=lambda c: c.cc):
                if c.mode == self.OC_TIMING and c.cb is not None and c.cc <= self.arr:
                    self.count = c.cc
                    c.cb(self)


def make_pyb(hw: Hardware) -> types.ModuleType:
    m = types.ModuleType("pyb")
    m.Timer = type("Timer", (FakeTimer,), {"hw": hw})  # type: ignore[attr-defined]
    m.Pin = type("Pin", (FakePin,), {"hw": hw})  # type: ignore[attr-defined]
    m.ADC = type("ADC", (FakeADC,), {"hw": hw})  # type: ignore[attr-defined]
    return m
