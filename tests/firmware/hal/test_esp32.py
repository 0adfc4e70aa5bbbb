"""ESP32 HAL: LEDC pilot PWM and the burst min/max CP fallback."""

from __future__ import annotations

import importlib
from array import array
from typing import Any

import pytest

import boards
from firmware.hal import base
from firmware.link import messages as m

pytestmark = pytest.mark.unit

HIGH_U16 = 3700 << 4  # +12 V .. +6 V plateaus at 12 bits, shifted to read_u16
LOW_U16 = 150 << 4


def make(fake_port: Any, chip: str = "Generic ESP32S3 module with ESP32S3") -> tuple[Any, Any, Any]:
    hw = fake_port("esp32")
    mod = importlib.import_module("firmware.hal.esp32")
    return mod.Esp32Hal(boards.load("esp32s3"), chip=chip), hw, mod


def pilot_source(hw: Any, duty: int) -> None:
    """The CP as the ADC sees it: high for the first duty share of each 1000 us."""
    clock = hw.clock
    pin = boards.load("esp32s3")["pins"]["cp_sense_adc"]
    hw.adc_source[pin] = lambda: HIGH_U16 if (clock.t % 1000) * 10 < duty else LOW_U16


def bursts() -> tuple[array, array]:
    return array("H", bytes(2 * base.CP_BURST)), array("H", bytes(2 * base.CP_BURST))


def sampled(fake_port: Any, mode: int, duty: int) -> tuple[Any, Any, Any, array, array]:
    """A HAL whose pilot runs `mode`/`duty`, after one sample_cp()."""
    hal, hw, mod = make(fake_port)
    hal.set_pilot(mode, duty)
    pilot_source(hw, 10000 if mode == m.PILOT_X1 else duty)
    high, low = bursts()
    hal.sample_cp(high, low)
    return hal, hw, mod, high, low


def test_pwm_1khz_starts_at_f(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    pwm = hw.pwms[boards.load("esp32s3")["pins"]["cp_pwm"]]
    assert pwm.freq_hz == 1000
    assert pwm.duty == 0


@pytest.mark.parametrize(
    ("mode", "duty", "u16"),
    [
        (m.PILOT_PWM, 500, 3276),  # 5 %
        (m.PILOT_PWM, 1000, 6553),
        (m.PILOT_PWM, 9600, 62913),
        (m.PILOT_PWM, 10000, 65535),  # 100 %: constant +12 V
        (m.PILOT_X1, 0, 65535),
        (m.PILOT_F, 5000, 0),
        (m.PILOT_PWM, 1, 6),  # 0.01 %
    ],
)
def test_duty_to_duty_u16(fake_port: Any, mode: int, duty: int, u16: int) -> None:
    hal, hw, mod = make(fake_port)
    hal.set_pilot(m.PILOT_PWM, 4321)
    hal.set_pilot(mode, duty)
    assert hw.pwms[boards.load("esp32s3")["pins"]["cp_pwm"]].duty == u16


def test_set_pilot_only_writes_changes(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    pwm = hw.pwms[boards.load("esp32s3")["pins"]["cp_pwm"]]
    hal.set_pilot(m.PILOT_PWM, 500)
    hal.set_pilot(m.PILOT_PWM, 500)
    hal.set_pilot(m.PILOT_X1, 0)
    hal.set_pilot(m.PILOT_PWM, 10000)
    assert pwm.history == [0, 3276, 65535]


@pytest.mark.parametrize(
    ("chip", "steps"),
    [
        ("Generic ESP32S3 module with ESP32S3", 8192),
        ("ESP32C3 module with ESP32C3", 8192),
        ("Generic ESP32 module with ESP32", 65536),
        ("ESP32C6 module with ESP32C6", 65536),
    ],
)
def test_duty_steps_per_chip(fake_port: Any, chip: str, steps: int) -> None:
    hal, hw, mod = make(fake_port, chip)
    assert hal.duty_steps() == steps


def test_adcs_have_the_full_range_attenuation(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    assert {a.atten for a in hw.adcs.values()} == {3}


@pytest.mark.parametrize("duty", [500, 1000, 5000, 9600])
def test_burst_min_max_finds_both_plateaus(fake_port: Any, duty: int) -> None:
    hal, hw, mod, high, low = sampled(fake_port, m.PILOT_PWM, duty)
    assert list(high) == [HIGH_U16 >> 4] * base.CP_BURST  # a fresh pilot fills every slot
    assert list(low) == [LOW_U16 >> 4] * base.CP_BURST
    assert hal.burst_reads >= mod.WINDOW_US // hw.clock.step_us // 2 - 1


def test_window_covers_a_pilot_period(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    assert mod.WINDOW_US > 1000
    pilot_source(hw, 500)
    t0 = hw.clock.t
    high, low = bursts()
    hal.sample_cp(high, low)
    assert hw.clock.t - t0 >= mod.WINDOW_US


def test_constant_pilot_both_plateaus_see_the_level(fake_port: Any) -> None:
    hal, hw, mod, high, low = sampled(fake_port, m.PILOT_X1, 0)
    assert list(high) == list(low) == [HIGH_U16 >> 4] * base.CP_BURST


def test_ring_keeps_the_last_bursts(fake_port: Any) -> None:
    hal, hw, mod, high, low = sampled(fake_port, m.PILOT_PWM, 5000)
    # the EV changes its level: one slot per tick follows, the rest still holds the old
    pin = boards.load("esp32s3")["pins"]["cp_sense_adc"]
    hw.adc_source[pin] = lambda: 2800 << 4 if (hw.clock.t % 1000) < 500 else LOW_U16
    for n in range(1, base.CP_BURST + 1):
        hal.sample_cp(high, low)
        assert sorted(high).count(2800) == n
    assert list(high) == [2800] * base.CP_BURST
