"""HAL of the STM32 boards (MicroPython stm32 port, pyb; tested shape: NUCLEO-F446RE).

Pilot PWM: channel 1 of the pin's advanced/general timer (cp_pwm must be one of
TIMERS below) as pyb.Timer.PWM at freq=1000. pyb picks prescaler and period; the
duty resolution is period + 1 timer ticks: 33600 on a NUCLEO-F446RE, whose MicroPython
board definition runs the core at 168 MHz (TIM1 at 168 MHz: 168000 ticks a period,
which pyb's compute_prescaler_period_from_freq divides by 5 to fit 16 bits).
Pins are cpu names ('PA8'), resolved through machine.Pin.cpu (see cpu_pin). A pulse
width of period + 1 is a constant high output (X1), 0 a constant low one (F). The
pulse width is preloaded, so a new duty starts at the next period.

CP sampling, timer-triggered: two more channels of the same timer run as
pyb.Timer.OC_TIMING (no pin) with compare values SETTLE_US after the rising edge
(counter 0) and SETTLE_US after the falling edge (the pulse width). Their compare
interrupts are hard IRQs (the default on stm32) that read the CP ADC once into a
preallocated ring, so both plateaus are sampled at a fixed phase of every period,
also while the pilot is constant. sample_cp() copies the last CP_BURST samples.
(pyb.ADC.read_timed would pace conversions with the same timer too, but it blocks
for one timer period per sample.)

Limits: the samples land SETTLE_US + IRQ latency (a few us) after the edge; a
higher-priority IRQ (USB, UART) can delay one. The compare for the low plateau
moves at once while the pulse width moves at the next period, so the first period
after a duty decrease may sample the high plateau as "low"; that burst disagrees
with itself and the classifier rejects it. The UART has no TX buffer on stm32:
write() blocks for the frame's time on the wire (about 5 ms for 64 bytes at 115200).
Hold PWM on the contactor coil needs machine.PWM (ports/stm32/machine_pwm.c, from
MicroPython 1.28; boards.min_micropython asks for it where hold_pct is set).

Grid sensing (boards with a `grid` section): a basic timer (`grid.timer`, TIM7 by
default) at `fs` calls a hard IRQ that reads the grid ADC (pyb.ADC.read, 12 bits)
into the GridSync ring; the rate is checked at boot (`pyb.Timer.freq()` must equal
fs exactly, or the HAL refuses to start). All pyb timer IRQs share one priority, so
the CP compare IRQs and this one do not preempt each other; the read still runs with
IRQs off so no other ADC user can cut it. pyb.ADC.read_timed would pace the ADC by
hardware without any jitter but blocks for the whole buffer, so it cannot run beside
the control loop. A comparator on pins.grid_zero_cross (PC7-PC9, CAPTURES) is
timestamped by timer input capture (TIM8 at 1 MHz): the hardware latches the edge, and
the capture IRQ converts it to the ticks_us clock (CaptureClock), so the stamp no longer
waits behind the timer IRQs. (A pin IRQ is outranked by them on stm32 - pyb gives
EXTI a lower priority than the timers - and its ticks_us came late by a timer callback.)
"""

import time

import machine
import pyb

from firmware.compat import const
from firmware.hal.mcu import FULL, UART_RX_BUF, McuHal, PlateauRing, check_version, pilot_share

SETTLE_US = const(5)  # sample this long after each edge
GRID_TIMER = const(7)  # a basic timer pyb leaves free (3 is internal, 5 servo, 6 DAC/ADC)
# cp_pwm pin -> (timer, channel) for the usual F4/F7 channel-1 pins
TIMERS = {"PA8": (1, 1), "PC6": (8, 1), "PA6": (3, 1), "PB6": (4, 1), "PA15": (2, 1), "PA5": (2, 1)}


# grid_zero_cross pin -> (timer, channel) for input capture: TIM8 (APB2, 16 bits) on the
# F4's PC7-PC9 (PC6, its CH1, is a cp_pwm choice)
CAPTURES = {"PC7": (8, 2), "PC8": (8, 3), "PC9": (8, 4)}


class CaptureClock:
    """The ticks_us time of the edge the capture channel latched, read in its IRQ.

    The capture timer counts microseconds (16 bits, wrapping every 65.5 ms: a mains
    edge comes every 20 ms or less). The edge happened (counter - capture) us before
    the IRQ reads the counter, however late the IRQ ran behind the other timer IRQs
    of the same priority, so the stamp is the hardware's, to about 1 us. Attributes
    set once, before the capture IRQ is enabled (the ISR rules of McuHal)."""

    def __init__(self, now_us, counter, capture):
        self._now = now_us
        self._counter = counter
        self._capture = capture

    def edge_us(self):
        late = (self._counter() - self._capture()) & 0xFFFF
        return self._now() - late


def cpu_pin(name):
    """'PA4' -> the cpu pin PA4. A string given to machine.Pin is looked up among the
    board's own names first (ports/stm32/pin.c, pin_find), where a Nucleo's Arduino
    labels live (A4 = PC1): the cpu table never has that ambiguity."""
    return getattr(machine.Pin.cpu, name[1:])


def _adc(pin):
    return machine.ADC(machine.Pin(cpu_pin(pin)))


class Stm32Hal(McuHal):
    def __init__(self, board):
        check_version(board)
        cfg = board["uart"]
        uart = machine.UART(cfg["id"], baudrate=cfg["baud"], timeout=0, rxbuf=UART_RX_BUF)
        pins = board["pins"]
        cp = pins["cp_pwm"]
        if cp not in TIMERS:
            raise ValueError(
                "board %s: pins.cp_pwm %r has no known timer channel (one of %s)"
                % (board["name"], cp, ", ".join(sorted(TIMERS)))
            )
        # the ISRs' own object, complete before any callback is enabled
        ring = PlateauRing(machine, 16 - board["adc_bits"], _adc(pins["cp_sense_adc"]).read_u16)
        self._ring = ring
        self._share = 0
        timer_id, ch = TIMERS[cp]
        tim = pyb.Timer(timer_id, freq=1000)
        self._period = tim.period() + 1
        self._settle = max(1, self._period * SETTLE_US // 1000)
        # the pilot starts at 0 % (state F, -12 V) until the controller sets it
        pwm = tim.channel(ch, pyb.Timer.PWM, pin=pyb.Pin(cpu_pin(cp)), pulse_width=0)
        self._pulse_width = pwm.pulse_width
        hi_ch, lo_ch = [c for c in (1, 2, 3, 4) if c != ch][:2]
        # polarity is pyb's default (and moot without a pin); the stubs require it with compare
        high = pyb.Timer.HIGH
        at_high = tim.channel(
            hi_ch, pyb.Timer.OC_TIMING, compare=self._settle, polarity=high, callback=ring.on_high
        )
        at_low = tim.channel(
            lo_ch, pyb.Timer.OC_TIMING, compare=self._settle, polarity=high, callback=ring.on_low
        )
        self._at_high = at_high
        self._low_compare = at_low.compare
        self._tim = tim
        McuHal.__init__(self, board, machine, _adc, uart, adc_in_isr=True, pin=cpu_pin)
        grid = board.get("grid")
        if grid is not None:
            gid = grid.get("timer", GRID_TIMER)
            gtim = pyb.Timer(gid, freq=grid["fs"])
            if gtim.freq() != grid["fs"]:  # pyb picks prescaler and period: check the result
                raise ValueError(
                    "board %s: grid.fs %d is not exact on TIM%d (it would run at %r Hz)"
                    % (board["name"], grid["fs"], gid, gtim.freq())
                )
            self._grid_tim = gtim
            grid_read = pyb.ADC(pyb.Pin(cpu_pin(pins["grid_sense_adc"]))).read  # 12 bits already
            edge_us = None
            zc = pins.get("grid_zero_cross")
            if zc is not None:
                edge_us = self._capture_zero_cross(board, zc, (timer_id, gid))
            self._setup_grid(grid_read, 0, gtim.callback, self._start_zero_cross, edge_us=edge_us)

    def _capture_zero_cross(self, board, pin, taken):
        """Set up the capture channel (no IRQ yet) and return the edge clock."""
        if pin not in CAPTURES:
            raise ValueError(
                "board %s: pins.grid_zero_cross %r has no known capture channel (one of %s)"
                % (board["name"], pin, ", ".join(sorted(CAPTURES)))
            )
        tid, ch = CAPTURES[pin]
        if tid in taken:
            raise ValueError("board %s: TIM%d is taken, it cannot capture the zero crossings"
                             % (board["name"], tid))
        tim = pyb.Timer(tid)
        src = tim.source_freq()
        if src % 1000000:
            raise ValueError("board %s: TIM%d runs at %d Hz, not a whole MHz" % (board["name"], tid, src))
        tim.init(prescaler=src // 1000000 - 1, period=0xFFFF)  # 1 us a count
        cap = tim.channel(ch, pyb.Timer.IC, pin=pyb.Pin(cpu_pin(pin)), polarity=pyb.Timer.RISING)
        self._capture_tim = tim
        self._capture_ch = cap
        return CaptureClock(time.ticks_us, tim.counter, cap.capture).edge_us

    def _start_zero_cross(self, callback):
        # pyb documents timerchannel.callback(fun) (docs/library/pyb.Timer.rst); the stubs lack it
        self._capture_ch.callback(callback)  # type: ignore[attr-defined]  # enables the IRQ

    def sample_cp(self, high, low):
        self.service()
        return self._ring.copy(high, low)

    def set_pilot(self, mode, duty):
        share = pilot_share(mode, duty)
        if share == self._share:
            return
        self._share = share
        period = self._period
        width = share * period // FULL  # FULL -> period: constant high
        at = width + self._settle
        if at >= period:  # no low phase left: sample late in the (high) period
            at = period - 1
        self._pulse_width(width)
        self._low_compare(at)

    def duty_steps(self):
        return self._period
