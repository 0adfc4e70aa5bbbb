"""STM32 HAL: pyb.Timer pilot PWM with timer-triggered CP sampling."""

from __future__ import annotations

import copy
import importlib
from array import array
from typing import Any

import pytest

import boards
from firmware.hal import base
from firmware.link import messages as m

pytestmark = pytest.mark.unit


def make(fake_port: Any) -> tuple[Any, Any, Any]:
    hw = fake_port("stm32")
    mod = importlib.import_module("firmware.hal.stm32")
    return mod.Stm32Hal(boards.load("stm32")), hw, mod


def cp_timer(hw: Any) -> Any:
    """The pilot's timer (the others: the grid ADC's and the zero-cross capture's)."""
    (tim,) = [t for t in hw.timers if any(c.mode == t.PWM for c in t.channels.values())]
    return tim


def channels(hw: Any) -> tuple[Any, Any, Any]:
    tim = cp_timer(hw)
    pwm = next(c for c in tim.channels.values() if c.mode == tim.PWM)
    hi, lo = sorted((c for c in tim.channels.values() if c.mode == tim.OC_TIMING), key=lambda c: c.ch)
    return pwm, hi, lo


def test_timer_1khz_pwm_on_the_cp_pin(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    tim = cp_timer(hw)
    pwm, hi, lo = channels(hw)
    assert (tim.id, tim.freq_hz) == (1, 1000)
    assert (pwm.ch, pwm.pin.id) == (1, "PA8")
    assert pwm.cc == 0  # starts at F (-12 V)
    assert {hi.ch, lo.ch}.isdisjoint({pwm.ch})
    assert hal.duty_steps() == tim.arr + 1 == 33600


@pytest.mark.parametrize(
    ("mode", "duty", "width"),
    [
        (m.PILOT_PWM, 500, 1680),  # 5 %: 50 us
        (m.PILOT_PWM, 1000, 3360),
        (m.PILOT_PWM, 9600, 32256),
        (m.PILOT_PWM, 10000, 33600),  # period + 1: constant high
        (m.PILOT_X1, 0, 33600),
        (m.PILOT_F, 9000, 0),
    ],
)
def test_duty_to_pulse_width(fake_port: Any, mode: int, duty: int, width: int) -> None:
    hal, hw, mod = make(fake_port)
    hal.set_pilot(m.PILOT_PWM, 4321)
    hal.set_pilot(mode, duty)
    pwm, hi, lo = channels(hw)
    assert pwm.cc == width


def test_sample_points_follow_the_edges(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    pwm, hi, lo = channels(hw)
    settle = 33600 * mod.SETTLE_US // 1000
    assert hi.cc == settle  # just after the rising edge at counter 0
    hal.set_pilot(m.PILOT_PWM, 500)
    assert lo.cc == 1680 + settle  # just after the falling edge
    hal.set_pilot(m.PILOT_X1, 0)
    assert lo.cc == 33599  # no falling edge: last tick of the (high) period
    hal.set_pilot(m.PILOT_F, 0)
    assert lo.cc == settle


@pytest.mark.parametrize("duty", [500, 5000, 9600])
def test_compare_irqs_fill_the_plateaus(fake_port: Any, duty: int) -> None:
    hal, hw, mod = make(fake_port)
    tim = cp_timer(hw)
    pwm, hi, lo = channels(hw)
    hal.set_pilot(m.PILOT_PWM, duty)
    pin = boards.load("stm32")["pins"]["cp_sense_adc"]
    hw.adc_source[pin] = lambda: 3700 << 4 if tim.count < pwm.cc else 150 << 4
    tim.run(base.CP_BURST)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    hal.sample_cp(high, low)
    assert list(high) == [3700] * base.CP_BURST
    assert list(low) == [150] * base.CP_BURST
    assert hw.irq_disabled == 0


def test_constant_pilot_samples_the_level(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    tim = cp_timer(hw)
    pwm, hi, lo = channels(hw)
    hal.set_pilot(m.PILOT_X1, 0)
    hw.adc_source[boards.load("stm32")["pins"]["cp_sense_adc"]] = (
        lambda: 3700 << 4 if tim.count < pwm.cc else 150 << 4
    )
    tim.run(base.CP_BURST)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    hal.sample_cp(high, low)
    assert list(high) == list(low) == [3700] * base.CP_BURST


def test_unknown_cp_pin_is_a_clear_error(fake_port: Any) -> None:
    fake_port("stm32")
    mod = importlib.import_module("firmware.hal.stm32")
    board = copy.deepcopy(boards.load("stm32"))
    board["pins"]["cp_pwm"] = "PC13"
    with pytest.raises(ValueError, match="pins.cp_pwm 'PC13'"):
        mod.Stm32Hal(board)
