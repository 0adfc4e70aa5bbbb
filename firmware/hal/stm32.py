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
the control loop. A comparator on pins.grid_zero_cross is timestamped in a hard pin
IRQ with ticks_us (1 us). (Timer input capture would timestamp it in hardware: not
done, the capture pins are board-specific.)
"""

import machine
import pyb

from firmware.compat import const
from firmware.hal.mcu import FULL, UART_RX_BUF, McuHal, PlateauRing, check_version, pilot_share

SETTLE_US = const(5)  # sample this long after each edge
GRID_TIMER = const(7)  # a basic timer pyb leaves free (3 is internal, 5 servo, 6 DAC/ADC)
# cp_pwm pin -> (timer, channel) for the usual F4/F7 channel-1 pins
TIMERS = {"PA8": (1, 1), "PC6": (8, 1), "PA6": (3, 1), "PB6": (4, 1), "PA15": (2, 1), "PA5": (2, 1)}


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
            self._setup_grid(grid_read, 0, gtim.callback, self._start_zero_cross)

    def _start_zero_cross(self, callback):
        pin = machine.Pin(cpu_pin(self.board["pins"]["grid_zero_cross"]), machine.Pin.IN)
        pin.irq(handler=callback, trigger=machine.Pin.IRQ_RISING, hard=True)
        self._zero_cross = pin

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
