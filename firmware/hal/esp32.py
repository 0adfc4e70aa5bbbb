"""HAL of the ESP32 boards (MicroPython esp32 port; tested shape: ESP32-S3).

Pilot PWM: machine.PWM (LEDC) at 1 kHz. At 1 kHz MicroPython gives the LEDC timer
its width minus one bit (so that 100 % is reachable): 13 bits (8192 steps, 0.012 %)
on the S2/S3/C2/C3, whose timers are 14 bits wide, and 16 bits on the others.
duty_u16(65535) is a constant high output (X1), 0 a constant low one (F), from
MicroPython 1.26 on: before it ports/esp32/machine_pwm.c capped the duty at 2**bits - 1,
a 122 ns low pulse every period at 13 bits, so X1 was no clean +12 V. check_version
refuses older images at boot.

CP sampling - the burst min/max fallback: the esp32 port runs Pin, Timer and UART
callbacks as soft (scheduled) IRQs, which start anywhere from tens of us to
milliseconds after their event, so nothing can be tied to a PWM edge. Instead each
sample_cp() reads the CP ADC back to back for WINDOW_US (one pilot period plus a
margin) and takes the largest reading as the high plateau and the smallest as the
low plateau. One window gives one (max, min) pair; the pairs of the last CP_BURST
ticks are what sample_cp() hands back, so the classifier's "all samples agree"
check compares CP_BURST different pilot periods. After set_pilot() changes the
output, the next window fills all CP_BURST slots, so the new level is not mixed with
the old one.

Limits, compared with the edge-synchronised ports:
- the high plateau is only seen if at least one conversion starts and ends inside
  it. At 5 % duty it lasts 50 us; one machine.ADC read_u16 takes roughly 10-40 us on
  an S3 (ESP-IDF oneshot driver), so 5 % works only where the loop is that fast:
  `burst_reads` (reads in the last window) tells, and > ~25 is needed;
- the max and min also take noise spikes and edge overshoot at face value (no
  settling delay after the edge), so ringing on the pilot shows up as a wrong level;
- a change of the EV's state is seen in every new window but reaches all CP_BURST
  slots only CP_BURST ticks later (80 ms at a 10 ms tick): until then the burst
  disagrees with itself and the classifier keeps the previous state;
- each call blocks the CPU for WINDOW_US (about 11 % of a 10 ms tick).

Reset reason: machine.reset() reads as HARD_RESET on esp32, so a requested reboot
is reported as RESET_OTHER.

Grid sensing (boards with a `grid` section): machine.Timer callbacks are soft on
esp32 - queued for the interpreter, which runs them between bytecodes, from tens of
us to milliseconds late (longer while a viper kernel, a flash write or Wi-Fi runs;
the queue holds only a few, so a long stall drops callbacks). Counting callbacks
would therefore compress time. hal/gridin.ClockedSampler reads ticks_us in every
callback and fills each sample slot that fell due since the last one with the value
it reads: the time base stays exact (the frequency stays right), and lateness turns
into sample-value noise (phase noise) and held samples (`held` counts them). Keep
`fs` low (2 kHz) so that most callbacks land in their own slot. The same applies to
a zero-cross pin (its IRQ is soft too: the timestamp is taken when the callback runs,
so its jitter is the scheduling latency) - the esp32s3 board therefore has none.
ADC1 at 11 dB is non-linear above ~2.6 V: keep the divider's peak below that.
"""

import os
import time
from array import array

import machine

from firmware.compat import const, ticks_diff
from firmware.hal.base import CP_BURST
from firmware.hal.mcu import (
    COUNT_MASK,
    UART_RX_BUF,
    UART_TX_BUF,
    McuHal,
    check_version,
    duty_u16,
    pilot_share,
)

WINDOW_US = const(1100)  # one pilot period (1000 us) plus a margin
_NARROW_LEDC = ("ESP32S2", "ESP32S3", "ESP32C2", "ESP32C3")  # 14-bit LEDC timers


def ledc_bits(chip):
    """Duty bits MicroPython's esp32 PWM uses at 1 kHz, from os.uname().machine."""
    for name in _NARROW_LEDC:
        if name in chip:
            return 13
    return 16


def _adc(pin):
    return machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)  # 0..~3.1 V


class Esp32Hal(McuHal):
    def __init__(self, board, chip=None):
        check_version(board)  # 1.26+: duty_u16(65535) is a steady high only from there
        cfg = board["uart"]
        uart = machine.UART(
            cfg["id"], baudrate=cfg["baud"], tx=cfg["tx"], rx=cfg["rx"],
            txbuf=UART_TX_BUF, rxbuf=UART_RX_BUF, timeout=0,
        )
        pins = board["pins"]
        self._steps = 1 << ledc_bits(chip if chip is not None else os.uname().machine)
        # the pilot starts at 0 % (state F, -12 V) until the controller sets it
        self._pwm = machine.PWM(machine.Pin(pins["cp_pwm"]), freq=1000, duty_u16=0)
        self._pwm_duty = self._pwm.duty_u16
        self._share = 0
        self._cp_read = _adc(pins["cp_sense_adc"]).read_u16
        self._ticks_us = time.ticks_us
        self._shift = 16 - board["adc_bits"]
        self._high = array("H", bytes(2 * CP_BURST))
        self._low = array("H", bytes(2 * CP_BURST))
        self._win = array("H", bytes(4))
        self._slot = 0
        self._fresh = True
        self.burst_reads = 0
        self._windows = 0  # windows read: the sample count sample_cp() reports
        McuHal.__init__(self, board, machine, _adc, uart)
        if board.get("grid") is not None:
            grid_read = _adc(pins["grid_sense_adc"]).read_u16
            self._setup_grid(
                grid_read, 4, self._start_grid_timer, self._start_zero_cross, clocked=True
            )

    def _start_grid_timer(self, callback):
        grid = self.board["grid"]
        self._grid_timer = machine.Timer(
            grid.get("timer", 0), mode=machine.Timer.PERIODIC, freq=grid["fs"], callback=callback
        )

    def _start_zero_cross(self, callback):
        pin = machine.Pin(self.board["pins"]["grid_zero_cross"], machine.Pin.IN)
        pin.irq(handler=callback, trigger=machine.Pin.IRQ_RISING)  # soft: see the docstring
        self._zero_cross = pin

    def _window(self):
        """Max and min of back-to-back CP reads over WINDOW_US into self._win."""
        read = self._cp_read
        now = self._ticks_us
        t0 = now()
        top = 0
        bottom = 65535
        n = 0
        while True:
            v = read()
            if v > top:
                top = v
            if v < bottom:
                bottom = v
            n += 1
            if ticks_diff(now(), t0) >= WINDOW_US:
                break
        self.burst_reads = n
        self._windows = (self._windows + 1) & COUNT_MASK
        self._win[0] = top
        self._win[1] = bottom

    def sample_cp(self, high, low):
        self.service()
        self._window()
        s = self._shift
        top = self._win[0] >> s
        bottom = self._win[1] >> s
        if self._fresh:
            self._fresh = False
            for i in range(CP_BURST):
                self._high[i] = top
                self._low[i] = bottom
        else:
            i = self._slot
            self._high[i] = top
            self._low[i] = bottom
            i += 1
            self._slot = 0 if i == CP_BURST else i
        for i in range(CP_BURST):
            high[i] = self._high[i]
            low[i] = self._low[i]
        return self._windows

    def set_pilot(self, mode, duty):
        share = pilot_share(mode, duty)
        if share != self._share:
            self._share = share
            self._pwm_duty(duty_u16(share))
            self._fresh = True

    def duty_steps(self):
        return self._steps
