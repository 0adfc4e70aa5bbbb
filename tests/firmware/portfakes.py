# firmware-vm helper (not a test module)
"""MicroPython-subset stand-ins for machine, rp2 and pyb that allocate nothing.

sys.modules takes them before the unix port's own `machine`, so the port HALs run on
the MicroPython unix port (and on CPython): the heap-lock tests in
tests/firmware/hal/test_no_alloc.py and the heap figures of benchmarks/firmware.py.
This module imports nothing of the firmware, so that a heap measurement can load it
before its baseline. ADC.source maps a pin to a fixed read_u16 value (else a sawtooth).
"""

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
        self.id = id
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
    source = {}  # pin id -> fixed read_u16 value

    def __init__(self, pin, atten=None):
        self.v = ADC.source.get(getattr(pin, "id", pin), -1)
        self.fixed = self.v >= 0
        if not self.fixed:
            self.v = 0

    def read_u16(self):
        if self.fixed:
            return self.v
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
    last_capture = None  # the input-capture IRQ handler, once enabled

    def __init__(self, callback):
        self.cb = callback
        self.cc = 0

    def pulse_width(self, v):
        self.cc = v

    def compare(self, v):
        self.cc = v

    def capture(self):
        return self.cc

    def callback(self, fn):
        self.cb = fn
        Channel.last_capture = fn


class Timer:
    PWM = 0
    OC_TIMING = 2
    IC = 4
    HIGH = 0
    RISING = 0

    last_callback = None

    def __init__(self, id, freq=0):
        self.chans = []
        self.hz = freq

    def period(self):
        return 33599

    def freq(self):
        return self.hz

    def source_freq(self):
        return 168000000

    def init(self, prescaler=0, period=0):
        pass

    def counter(self):
        return 7

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


class _Uname:
    machine = "Generic ESP32S3 module with ESP32S3"


class os:
    """Only what the esp32 HAL asks of `os` (the unix port has no uname)."""

    @staticmethod
    def uname():
        return _Uname


FAKES = {"machine": machine, "rp2": rp2, "pyb": pyb}
HALS = ("firmware.hal.rp2", "firmware.hal.esp32", "firmware.hal.stm32")
