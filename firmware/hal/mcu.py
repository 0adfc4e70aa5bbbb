"""What the three microcontroller HALs (rp2, esp32, stm32) share.

This module never imports `machine`: each port module passes its own `machine` in,
so that only firmware/hal/{rp2,esp32,stm32}.py touch the hardware modules.

Carrier-board conventions (docs/hardware.md has the pin tables):

- inputs have the MCU's pull-up and are wired so that a broken wire reads as the
  unsafe case: contactor_feedback is the contactor's auxiliary NO contact to GND
  (closed = low); rcd_fault is the RCD module's healthy output pulling low (high =
  fault, module unpowered or wire off); estop is an NC contact to GND (high =
  pressed or wire off); manual_override is the override switch's auxiliary NC
  contact to GND (high = overridden or wire off);
- contactor_drive and rcd_test are active high;
- the CP driver is non-inverting: MCU output high = +12 V, low = -12 V. So PILOT_X1
  is a constant high output (100 %) and PILOT_F a constant low one (0 %).

Contactor hold PWM (`contactor.hold_pct` between 1 and 99): the coil is pulled in at
full voltage for PULL_IN_MS, then held at hold_pct of the supply with a HOLD_HZ PWM.
The drop to hold happens in `service()`, which every port calls at the start of
`sample_cp()` (the first thing the control tick does), so no timer or IRQ is needed
and a stalled tick cannot leave anything half-done (the WDT resets it anyway).
"""

import sys
import time
from array import array

import boards
from firmware.compat import const, ticks_diff, ticks_ms
from firmware.hal.base import (
    CP_BURST,
    RESET_OTHER,
    RESET_POWER_ON,
    RESET_SOFT,
    RESET_WATCHDOG,
)
from firmware.hal.gridin import US_MASK, AdcSampler, ClockedSampler, EdgeStamper
from firmware.link.messages import PILOT_PWM, PILOT_X1

try:
    from time import sleep_ms as _sleep_ms
except ImportError:  # CPython, under the tests

    def _sleep_ms(ms):  # type: ignore[misc]
        time.sleep(ms / 1000)

FULL = const(10000)  # 100 % in the pilot's 0.01 % duty units
PULL_IN_MS = const(200)  # coil at full voltage before it drops to hold
HOLD_HZ = const(20000)  # coil hold PWM: above hearing, within every port's PWM range
# UART ring buffers, on the GC heap on rp2 and stm32 (the port allocates them): the host
# sends one command frame (<= 102 bytes on the wire) at a time and the link task drains
# RX every 2 ms (23 bytes at 115200); TX takes the burst of frames one tick can produce
# (Ack, Status, a few events: ~250 bytes)
UART_RX_BUF = const(256)
UART_TX_BUF = const(512)
# a comparator's chatter at one crossing lasts microseconds; a real edge comes a cycle
# (16.7 ms or more) later: edges within this of the last stored one are dropped in the IRQ
ZERO_CROSS_HOLD_US = const(500)


def pilot_share(mode, duty):
    """Share of each PWM period, in 0.01 %, that the CP driver output is high.

    PILOT_PWM keeps `duty` (clamped to 0..100 %), PILOT_X1 is 100 % (+12 V), PILOT_F
    and any unknown mode 0 % (-12 V): an invalid request ends in the safe state.
    """
    if mode == PILOT_PWM:
        if duty <= 0:
            return 0
        return FULL if duty >= FULL else duty
    if mode == PILOT_X1:
        return FULL
    return 0


def duty_u16(share):
    """machine.PWM.duty_u16 for a share in 0.01 %: 0 -> 0, 100 % -> 65535 (which
    rp2, esp32 and stm32 all treat as a constant high output)."""
    return share * 65535 // FULL


def reset_kind(machine, cause):
    """machine.reset_cause() -> base.RESET_*. The constants differ per port (rp2 has
    only PWRON_RESET and WDT_RESET; stm32's SOFT_RESET is 0), so compare by name."""
    if cause == getattr(machine, "WDT_RESET", None):
        return RESET_WATCHDOG
    if cause == getattr(machine, "PWRON_RESET", None):
        return RESET_POWER_ON
    if cause == getattr(machine, "SOFT_RESET", None):
        return RESET_SOFT
    return RESET_OTHER


def running_version():
    """MicroPython's (major, minor, micro), or None under CPython (the fake ports)."""
    impl = sys.implementation
    if impl.name != "micropython":
        return None
    return tuple(impl.version[:3])


def check_version(board):
    """The port HALs call this first, before any pin, timer or the watchdog is set up:
    an image older than the board needs stops boot here with what it lacks, instead of
    failing later inside the control task (and resetting through the watchdog)."""
    have = running_version()
    if have is None:
        return
    need, why = boards.min_micropython(board)
    if have < need:
        raise RuntimeError(
            "board %s needs MicroPython %d.%d.%d or newer (%s); this image is %d.%d.%d"
            % ((board["name"],) + need + (why,) + have)
        )


class _Slicer:
    def __getitem__(self, key):
        return key


# a slice object made once: `a[:] = b` builds a new slice on the heap at every call
# (MicroPython 1.29 too), and some ports cannot call slice() at all
WHOLE_BURST = _Slicer()[0:CP_BURST]
COUNT_MASK = const(0x3FFFFFFF)  # sample counts wrap at 2**30: small ints on every port


class PlateauRing:
    """The last CP_BURST samples of each plateau, written from a hard IRQ.

    This is the ISR's own object (not the HAL's): every attribute it has exists when
    __init__ returns, before the port enables any interrupt, and none is ever added, so
    a hard IRQ never meets a dict being resized (MicroPython's ISR rules). The port
    passes the CP ADC's `read`; `on_high`/`on_low` (or the rp2 subclass's handler) are
    the IRQ handlers. put_high/put_low store one raw read_u16 value (a small int) into
    preallocated arrays and count it in `count[0]` (mod 2**30): the controller watches
    that count, because an IRQ handler that raised once is disabled by MicroPython for
    good and the ring would then hand out the same samples forever. copy() hands the
    caller's arrays a consistent snapshot with one slice assignment per plateau under
    the IRQ lock (a memcpy, not a bytecode loop, so the lock lasts about a microsecond),
    scales them to the board's adc_bits after the lock and returns the count.
    """

    def __init__(self, machine, shift, read):
        self.high = array("H", bytes(2 * CP_BURST))
        self.low = array("H", bytes(2 * CP_BURST))
        self._at = array("B", b"\x00\x00")  # next slot: [high, low]
        self.count = array("i", [0])
        self._n = CP_BURST
        self._shift = shift
        self._read = read
        self._irq_off = machine.disable_irq
        self._irq_on = machine.enable_irq

    def put_high(self, v):
        i = self._at[0]
        self.high[i] = v
        i += 1
        self._at[0] = 0 if i == self._n else i
        self.count[0] = (self.count[0] + 1) & COUNT_MASK

    def put_low(self, v):
        i = self._at[1]
        self.low[i] = v
        i += 1
        self._at[1] = 0 if i == self._n else i
        self.count[0] = (self.count[0] + 1) & COUNT_MASK

    def on_high(self, _source):
        """Hard IRQ of the high plateau's sample point: small ints only."""
        self.put_high(self._read())

    def on_low(self, _source):
        self.put_low(self._read())

    def copy(self, high, low):
        every = WHOLE_BURST
        state = self._irq_off()
        high[every] = self.high
        low[every] = self.low
        n = self.count[0]
        self._irq_on(state)
        s = self._shift
        if s:
            for i in range(self._n):
                high[i] >>= s
                low[i] >>= s
        return n


class UartLink:
    """machine.UART behind the link's non-blocking read() -> bytes|None / write()."""

    def __init__(self, uart):
        self._uart = uart
        self._any = uart.any
        self._read = uart.read
        self._write = uart.write
        self.tx_dropped = 0

    def read(self):
        if not self._any():
            return None
        return self._read()  # timeout=0: what is there, never waits

    def write(self, data):
        n = self._write(data)
        if n is None:  # nothing fitted in the TX buffer
            n = 0
        if n < len(data):
            self.tx_dropped += len(data) - n

    def drain(self, timeout_ms):
        """Wait, at most `timeout_ms`, until the TX buffer has gone out: a reset right
        after write() would cut off what is still in it (rp2 and esp32 buffer TX), such
        as the Ack of the Reset(reboot) that caused it. txdone() where the port has it,
        else flush() (which bounds its own wait), else nothing to wait on."""
        uart = self._uart
        txdone = getattr(uart, "txdone", None)
        if txdone is None:
            flush = getattr(uart, "flush", None)
            if flush is not None:
                flush()
            return
        start = ticks_ms()
        while not txdone():
            if ticks_diff(ticks_ms(), start) >= timeout_ms:
                return
            _sleep_ms(1)
        _sleep_ms(1)  # the last byte may still be in the shift register


def _same(pin):
    return pin


class McuHal:
    """Inputs, contactor (with optional hold PWM), RCD test, NTC ADCs, WDT, reset.

    The port subclass builds its UART and pilot, then calls this with its `machine`
    and an `adc(pin)` factory (esp32 needs an attenuation); `adc_in_isr` where the
    CP ADC is read in a hard IRQ, so that the NTC reads keep IRQs off while they run
    (a few us). The WDT starts last, so everything is in its safe state before the
    first feed is due.
    """

    def __init__(self, board, machine, adc, uart, adc_in_isr=False, pin=None):
        self.board = board
        self._machine = machine
        # rp2 and stm32 read the CP ADC in a hard IRQ: that read selects its channel,
        # so a main-context read must not be cut between its own select and convert
        self._adc_guard = adc_in_isr
        self._irq_off = machine.disable_irq
        self._irq_on = machine.enable_irq
        self._reset = reset_kind(machine, machine.reset_cause())
        Pin = machine.Pin
        # board pin name -> what machine.Pin takes (stm32 resolves cpu names)
        self._pin = pin if pin is not None else _same
        pins = board["pins"]
        self._shift = 16 - board["adc_bits"]  # read_u16 -> the board's counts

        self._feedback = self._input(Pin, pins["contactor_feedback"])
        self._rcd_fault = self._input(Pin, pins.get("rcd_fault"))
        self._estop = self._input(Pin, pins.get("estop"))
        self._override = self._input(Pin, pins.get("manual_override"))
        test = pins.get("rcd_test")
        self._rcd_test = Pin(self._pin(test), Pin.OUT, value=0).value if test is not None else None

        hold = board["contactor"]["hold_pct"]
        drive = pins["contactor_drive"]
        self._coil_pwm = None
        self._coil_pin = None
        if 0 < hold < 100:
            pwm = machine.PWM(Pin(self._pin(drive)), freq=HOLD_HZ, duty_u16=0)
            self._coil_pwm = pwm.duty_u16
            self._hold_u16 = duty_u16(hold * 100)
        else:  # 0 or 100: no economiser, the coil is simply on or off
            self._coil_pin = Pin(self._pin(drive), Pin.OUT, value=0).value
        self._coil_on = False
        self._pulling = False
        self._coil_at = ticks_ms()  # a ticks value, as set_contactor stores

        self._ntc = tuple(
            adc(pins["ntc%d_adc" % i]).read_u16 for i in range(board["ntc"]["channels"])
        )
        self.uart = UartLink(uart)
        self._setup_cable(board, Pin, adc)
        if board.get("dc") is not None:  # DC charger hardware: loaded on DC boards only
            from firmware.hal import mcudc

            mcudc.attach(self, board, machine, adc)
        self._wdt_feed = machine.WDT(timeout=board["wdt_ms"]).feed

    def _input(self, Pin, pin):
        if pin is None:
            return None
        return Pin(self._pin(pin), Pin.IN, Pin.PULL_UP).value

    # ------------------------------------------------------------ per tick

    def service(self):
        """Housekeeping of the tick (see the module docstring): coil pull-in -> hold."""
        pwm = self._coil_pwm
        if self._pulling and pwm is not None and ticks_diff(ticks_ms(), self._coil_at) >= PULL_IN_MS:
            self._pulling = False
            pwm(self._hold_u16)

    def set_contactor(self, on):
        on = bool(on)
        pin = self._coil_pin
        pwm = self._coil_pwm
        if pin is not None:
            pin(1 if on else 0)
        elif pwm is None:
            pass  # __init__ sets exactly one of pin and pwm
        elif on and not self._coil_on:
            pwm(65535)
            self._pulling = True
            self._coil_at = ticks_ms()
        elif not on:
            self._pulling = False
            pwm(0)
        self._coil_on = on

    def contactor_feedback(self):
        return self._feedback() == 0

    def rcd_fault(self):
        return self._rcd_fault is not None and self._rcd_fault() == 1

    def rcd_test(self, on):
        if self._rcd_test is not None:
            self._rcd_test(1 if on else 0)

    def estop(self):
        return self._estop is not None and self._estop() == 1

    def manual_override(self):
        return self._override is not None and self._override() == 1

    def ntc_counts(self, channel):
        read = self._ntc[channel]
        if self._adc_guard:
            state = self._irq_off()
            v = read()
            self._irq_on(state)
        else:
            v = read()
        return v >> self._shift

    def current_ma(self):
        return 0  # no current sense on these carrier boards

    def feed_wdt(self):
        self._wdt_feed()

    def reset_reason(self):
        return self._reset

    def reboot(self):
        self._machine.reset()

    # ------------------------------------------------------------ grid sensing

    _grid_adc = None  # type: AdcSampler | None  # where the board has a `grid` section
    _grid_edge = None  # type: EdgeStamper | None  # where it also has pins.grid_zero_cross

    def _setup_grid(self, read, shift, start_timer, start_pin, clocked=False, edge_us=None):
        """Port HALs call this last with their grid ADC's read, the shift to 12 bits and
        the functions that start the sampling timer and the zero-cross IRQ; `edge_us`
        where the edge's time comes from a capture register rather than ticks_us in the
        IRQ. Nothing starts here: the samplers start on the controller's first collect."""
        board = self.board
        grid = board.get("grid")
        if grid is None:
            return
        now_us = time.ticks_us
        if clocked:
            self._grid_adc = ClockedSampler(read, shift, grid["fs"], now_us, start_timer)
        else:
            self._grid_adc = AdcSampler(read, shift, self._irq_off, self._irq_on, start_timer)
        if board["pins"].get("grid_zero_cross") is not None:
            self._grid_edge = EdgeStamper(
                edge_us if edge_us is not None else now_us, ZERO_CROSS_HOLD_US, self._irq_off,
                self._irq_on, start_pin,
            )
        self._ticks_us = now_us

    def grid_collect(self, gs):
        adc = self._grid_adc
        if adc is None:  # the controller only asks where the board has a `grid` section
            raise ValueError("board has no grid section: no grid sampling")
        return adc.collect(gs)

    def grid_edges(self, es):
        edge = self._grid_edge
        if edge is None:
            raise ValueError("board has no pins.grid_zero_cross: no zero-cross edges")
        return edge.collect(es)

    def grid_now_us(self):
        return self._ticks_us() & US_MASK  # type: ignore[operator]  # stubs: opaque ticks

    def converter_phase16(self, grid16):
        """These carrier boards have no input for the power converter's reference (an AC
        EV's on-board inverter or an external DC stage synchronises itself), so the
        reference is the grid phase and the alignment check cannot fail here. A board
        that can read its converter's phase overrides this."""
        return grid16

    # ---- issue 15: proximity pilot, connector lock, non-volatile store ----

    def _setup_cable(self, board, Pin, adc):
        """PP ADC (pins.pp_adc) and the lock's outputs (pins.lock_a: towards locked, a
        solenoid's coil; pins.lock_b: a motor's other way) and feedback switch
        (pins.lock_feedback, low = locked, like the other inputs). Only where the board
        has a `pp` / `lock` section: the controller asks for them only then."""
        pins = board["pins"]
        pp = pins.get("pp_adc")
        self._pp = adc(pp).read_u16 if pp is not None else None
        a, b = pins.get("lock_a"), pins.get("lock_b")
        self._lock_a = Pin(self._pin(a), Pin.OUT, value=0).value if a is not None else None
        self._lock_b = Pin(self._pin(b), Pin.OUT, value=0).value if b is not None else None
        self._lock_fb = self._input(Pin, pins.get("lock_feedback"))

    def pp_counts(self):
        read = self._pp
        return read() >> self._shift if read is not None else 0

    def lock_drive(self, d):
        a, b = self._lock_a, self._lock_b
        if b is not None:  # a motor: never both ways at once, off before the other way
            b(1 if d < 0 else 0)
        if a is not None:
            a(1 if d > 0 else 0)

    def lock_feedback(self):
        fb = self._lock_fb
        return fb is not None and not fb()

    def nv_load(self, name):
        """A record kept in the board's flash file system (outside the tick)."""
        try:
            with open("/%s.bin" % name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def nv_save(self, name, data):
        """Written to a new file, then renamed over the old one: littlefs renames
        atomically, so a power cut leaves the old record or the new, never half."""
        import os

        tmp = "/%s.tmp" % name
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, "/%s.bin" % name)
