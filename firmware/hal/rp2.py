"""HAL of the RP2040 boards (MicroPython rp2 port).

Pilot PWM and sampling (PIO + hard IRQ): a PIO state machine generates the 1 kHz
pilot (5000 duty steps, 0.02 %) and raises a PIO IRQ flag 4 us after each edge (the
program and its cycle count are below). That IRQ runs a hard IRQ handler which reads
the CP ADC once (2 us conversion) and stores the raw value in a preallocated ring,
so every sample sits at a fixed phase: the high plateau 4 us + the hard-IRQ entry
time (on the order of 10 us at 125 MHz) after the rising edge, the low plateau as
long after the falling edge. sample_cp() copies the last CP_BURST samples of each
plateau (the last CP_BURST pilot periods) with IRQs off.

Limits: the IRQ entry time is not deterministic (another hard IRQ or a flash write
can delay a sample by tens of us); at 5 % duty the high plateau lasts 50 us, so a
delay beyond ~40 us lands on the falling edge and that burst disagrees with itself,
which the classifier rejects. PWM duties below 0.48 % or above 99.48 % are clamped
to those (X1 and F are exact constant levels). The pilot takes PIO0 state machine 0
and PIO IRQ flags 0 and 1 (PIO0's system IRQ 0). The CP ADC read in the IRQ selects
its channel, so the NTC reads keep IRQs off for their conversion (see mcu.McuHal).

Reset reason: machine.reset() reboots through the watchdog, which rp2 then reports
as WDT_RESET. reboot() therefore leaves a marker in watchdog scratch register 0
(user scratch, kept across a watchdog reboot), so a requested reboot reads as
RESET_SOFT and only a real watchdog expiry as RESET_WATCHDOG.

Grid sensing (boards with a `grid` section): a machine.Timer with hard=True (MicroPython
1.26 or newer; checked at boot) reads the grid ADC `fs` times a second into the GridSync
ring (hal/gridin.AdcSampler). On rp2 machine.Timer is a pico-sdk alarm re-armed from
its previous expiry (no drift), so the rate is as exact as the crystal. Its callback
runs in the hardware alarm's interrupt (TIMER_IRQ_3), which MicroPython leaves at the
same default priority as the PIO IRQ; the HAL raises the PIO CP interrupt above it
(set_irq_priority), so a CP sample preempts a grid callback instead of waiting behind
it, and the grid callback reads the ADC with IRQs off (a few us) so that the CP read
cannot cut it between channel select and conversion. Sample jitter: the entry latency
of that interrupt, a few us at 125 MHz, plus a CP callback that preempts it, longer
while a flash write runs. A comparator on pins.grid_zero_cross is timestamped with
ticks_us in a hard pin IRQ (1 us steps).
"""

import machine
import rp2

from firmware.compat import const
from firmware.hal.base import RESET_SOFT, RESET_WATCHDOG
from firmware.hal.mcu import (
    UART_RX_BUF,
    UART_TX_BUF,
    McuHal,
    PlateauRing,
    check_version,
    pilot_share,
)

# The PIO assembler's instructions (`pull`, `mov`, `out`, ...) and operands (`x`, `osr`,
# `pins`, ...) are names @rp2.asm_pio provides only while it runs cp_pwm. The type
# checker takes them from the stubs instead; on the board this block never runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import (
        irq,
        jmp,
        label,
        mov,
        noblock,
        osr,
        out,
        pins,
        pull,
        wrap,
        wrap_target,
        x,
        y,
        y_dec,
    )

_SCRATCH0 = const(0x4005800C)  # RP2040 WATCHDOG_BASE + SCRATCH0
_REBOOT_MARK = const(0x5EB0)
_FLAG_FIRST = const(0x100)  # PIO IRQ flag 0 as PIO.irq().flags() reports it
_FLAG_SECOND = const(0x200)  # flag 1
# Interrupt priorities (Cortex-M0+: 2 bits, the top of each byte; lower = more urgent).
# MicroPython's rp2 port leaves every IRQ at the pico-sdk default 0x80: the PIO IRQ that
# samples the CP (PIO0_IRQ_0, irq_set_exclusive_handler in ports/rp2/rp2_pio.c) and the
# hardware alarm that runs machine.Timer callbacks (alarm_pool_get_default() in
# ports/rp2/machine_timer.c, TIMER_IRQ_3) alike, so a CP sample could wait behind a
# whole grid callback. The HAL raises PIO0_IRQ_0 to 0x40: it preempts the grid timer,
# the zero-cross pin IRQ and the UART, and nothing preempts it but the IRQ lock.
NVIC_IPR = const(0xE000E400)  # NVIC_IPR0; IRQ n is byte n % 4 of word n // 4
PIO0_IRQ_0 = const(7)
CP_IRQ_PRIORITY = const(0x40)

# ---------------------------------------------------------------- the PIO program
# The RP2040 control-pilot PIO program: 1 kHz PWM that flags each edge.
#
# One state machine at SM_HZ = 5 MHz runs PERIOD = 5000 cycles per pilot period, so
# the duty resolution is 5000 steps (0.02 %). Each period is one 32-bit word from the
# TX FIFO:
#
#     bit 0        output level of the first phase   (1 for PWM)
#     bits 1..15   Yh: loop count of the first phase
#     bit 16       output level of the second phase  (0 for PWM)
#     bits 17..31  Yl: loop count of the second phase
#
# `pull(noblock)` refills the OSR from X when the FIFO is empty, so the last word
# repeats every period and a new word takes effect at the next period boundary (no
# glitch). SETTLE cycles after each edge the program raises PIO IRQ flag 0 (first
# phase) or 1 (second phase); the HAL's hard IRQ handler then reads the ADC, so the
# high plateau is sampled 4 us + IRQ latency after the rising edge and the low
# plateau as long after the falling edge. With a constant pilot (X1, F) both phase
# levels are equal and the flags keep coming, so both plateaus see that level.
#
# Cycle count (each instruction takes 1 cycle plus its [delay]):
#     first phase  = (1 + SETTLE) + 1 + 1 + (Yh + 1)           = Yh + SETTLE + 4
#     second phase = (1 + SETTLE) + 1 + 1 + (Yl + 1) + 2 (wrap) = Yl + SETTLE + 6
# The word stays below 2**30, a small int on a 32-bit port (no allocation in put()).


SM_HZ = const(5_000_000)
PERIOD = const(5000)  # SM_HZ / 1 kHz
_SETTLE = const(20)  # cycles between an edge and its IRQ flag: 4 us
SETTLE = _SETTLE
HIGH_OVERHEAD = const(24)  # SETTLE + 4
LOW_OVERHEAD = const(26)  # SETTLE + 6
HIGH_MIN = HIGH_OVERHEAD  # shortest first phase (Yh = 0): 0.48 %
HIGH_MAX = PERIOD - LOW_OVERHEAD  # longest first phase (Yl = 0): 99.48 %


@rp2.asm_pio(out_init=rp2.PIO.OUT_LOW, out_shiftdir=rp2.PIO.SHIFT_RIGHT)
def cp_pwm():
    wrap_target()
    pull(noblock)
    mov(x, osr)  # kept in X: the next noblock pull repeats this period
    out(pins, 1)[_SETTLE]  # edge into the first phase
    irq(0)
    out(y, 15)
    label("first")
    jmp(y_dec, "first")
    out(pins, 1)[_SETTLE]  # edge into the second phase
    irq(1)
    out(y, 15)
    label("second")
    jmp(y_dec, "second")
    wrap()


def word(first_level, first_cycles, second_level):
    """The FIFO word of one period whose first phase lasts `first_cycles`."""
    yh = first_cycles - HIGH_OVERHEAD
    yl = PERIOD - first_cycles - LOW_OVERHEAD
    return first_level | yh << 1 | second_level << 16 | yl << 17


def word_for_share(share):
    """FIFO word for a driver-high share in 0.01 % (0 = constant low, 10000 =
    constant high, anything between a PWM clamped to HIGH_MIN..HIGH_MAX cycles)."""
    if share <= 0:
        return word(0, PERIOD // 2, 0)
    if share >= 10000:
        return word(1, PERIOD // 2, 1)
    cycles = share * PERIOD // 10000
    if cycles < HIGH_MIN:
        cycles = HIGH_MIN
    elif cycles > HIGH_MAX:
        cycles = HIGH_MAX
    return word(1, cycles, 0)


def _adc(pin):
    return machine.ADC(machine.Pin(pin))


def set_irq_priority(mem32, irq, priority):
    """One IRQ's NVIC priority byte (the M0+ NVIC takes word writes only)."""
    addr = NVIC_IPR + (irq >> 2) * 4
    shift = (irq & 3) * 8
    word = mem32[addr] & ~(0xFF << shift) & 0xFFFFFFFF
    mem32[addr] = word | priority << shift


def _no_flags():
    return 0


class PioRing(PlateauRing):
    """The CP ring with the PIO IRQ's handler. `flags` is the IRQ object's flags(): the
    key exists (a stand-in reading no flag) before the IRQ does, and setting it later
    replaces a value, never adds a key; the state machine starts only after that."""

    def __init__(self, machine, shift, read):
        PlateauRing.__init__(self, machine, shift, read)
        self.flags = _no_flags

    def on_edge(self, _pio):
        """Hard IRQ: one ADC read, stored by plateau. Small ints only."""
        flags = self.flags()
        v = self._read()
        if flags & _FLAG_FIRST:
            self.put_high(v)
        if flags & _FLAG_SECOND:
            self.put_low(v)


class Rp2Hal(McuHal):
    def __init__(self, board):
        check_version(board)
        cfg = board["uart"]
        uart = machine.UART(
            cfg["id"], baudrate=cfg["baud"], tx=machine.Pin(cfg["tx"]), rx=machine.Pin(cfg["rx"]),
            txbuf=UART_TX_BUF, rxbuf=UART_RX_BUF, timeout=0,
        )
        pins = board["pins"]
        ring = PioRing(machine, 16 - board["adc_bits"], _adc(pins["cp_sense_adc"]).read_u16)
        self._ring = ring
        self._share = 0
        # the pilot starts at 0 % (state F, -12 V) until the controller sets it
        sm = rp2.StateMachine(
            0, cp_pwm, freq=SM_HZ, out_base=machine.Pin(pins["cp_pwm"])
        )
        sm.put(word_for_share(0))
        self._sm_put = sm.put
        # the ignores here work around two bugs of micropython-rp2-stubs
        # 1.29: `trigger` admits one flag rather than an OR of them (its own default is
        # 0xF00), and irq() is declared to return the IRQ class instead of an instance
        set_irq_priority(machine.mem32, PIO0_IRQ_0, CP_IRQ_PRIORITY)
        self._pio_irq = rp2.PIO(0).irq(
            ring.on_edge, trigger=rp2.PIO.IRQ_SM0 | rp2.PIO.IRQ_SM1, hard=True  # type: ignore[arg-type]
        )
        ring.flags = self._pio_irq.flags  # type: ignore[union-attr,assignment]  # stub bug, above
        sm.active(1)
        self._sm = sm
        McuHal.__init__(self, board, machine, _adc, uart, adc_in_isr=True)
        mem = machine.mem32
        if self._reset == RESET_WATCHDOG and mem[_SCRATCH0] == _REBOOT_MARK:
            self._reset = RESET_SOFT
        mem[_SCRATCH0] = 0
        if board.get("grid") is not None:
            grid_read = _adc(pins["grid_sense_adc"]).read_u16
            self._setup_grid(grid_read, 4, self._start_grid_timer, self._start_zero_cross)

    def _start_grid_timer(self, callback):
        """The grid ADC timer: a hard-IRQ machine.Timer at the board's rate; the port turns
        freq into whole microseconds (boards.validate makes 1e6 / fs exact)."""
        fs = self.board["grid"]["fs"]
        self._grid_timer = machine.Timer(
            -1, mode=machine.Timer.PERIODIC, freq=fs, hard=True, callback=callback
        )  # -1: rp2's timers are virtual, on the microsecond alarm

    def _start_zero_cross(self, callback):
        pin = machine.Pin(self.board["pins"]["grid_zero_cross"], machine.Pin.IN)
        pin.irq(handler=callback, trigger=machine.Pin.IRQ_RISING, hard=True)
        self._zero_cross = pin

    def sample_cp(self, high, low):
        self.service()
        return self._ring.copy(high, low)

    def set_pilot(self, mode, duty):
        share = pilot_share(mode, duty)
        if share != self._share:
            self._share = share
            self._sm_put(word_for_share(share))  # waits at most one period

    def duty_steps(self):
        return PERIOD

    def reboot(self):
        machine.mem32[_SCRATCH0] = _REBOOT_MARK
        machine.reset()
