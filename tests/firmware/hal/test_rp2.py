"""RP2040 HAL: the PIO pilot program cycle by cycle, edge-synchronised CP sampling."""

from __future__ import annotations

import importlib
from array import array
from typing import Any

import pytest

import boards
from firmware.hal import base
from firmware.link import messages as m
from tests.firmware.hal.fakes import RESET_CONSTANTS, run_pio

pytestmark = pytest.mark.unit


def make(fake_port: Any) -> tuple[Any, Any, Any]:
    hw = fake_port("rp2")
    mod = importlib.import_module("firmware.hal.rp2")
    return mod.Rp2Hal(boards.load("rp2040")), hw, mod


def waveform(mod: Any, share: int) -> tuple[list, list]:
    edges, irqs = run_pio(mod.cp_pwm, mod.word_for_share(share), periods=3)
    return edges, irqs


@pytest.mark.parametrize("share", [500, 1000, 5000, 8500, 9600, 1, 9999])
def test_pio_pwm_is_1khz_with_the_duty(fake_port: Any, share: int) -> None:
    hal, hw, mod = make(fake_port)
    edges, irqs = waveform(mod, share)
    rises = [t for t, level in edges if level == 1]
    falls = [t for t, level in edges if level == 0]
    # 1 kHz: PERIOD cycles at SM_HZ
    assert mod.SM_HZ // mod.PERIOD == 1000
    assert [b - a for a, b in zip(rises, rises[1:], strict=False)] == [mod.PERIOD] * (len(rises) - 1)
    high = falls[0] - rises[0] if falls[0] > rises[0] else falls[1] - rises[0]
    want = min(max(share * mod.PERIOD // 10000, mod.HIGH_MIN), mod.HIGH_MAX)
    assert high == want
    # each edge is followed by its IRQ flag SETTLE cycles later: 0 after rising, 1 after falling
    for t, level in edges:
        assert (t + mod.SETTLE + 1, 0 if level == 1 else 1) in irqs


def test_pio_constant_levels_keep_flagging(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    for share, level in ((0, 0), (10000, 1)):
        edges, irqs = waveform(mod, share)
        assert [lv for _, lv in edges] == [level]  # set once, never toggles
        flags = [f for _, f in irqs]
        assert flags[:4] == [0, 1, 0, 1]
        first = [t for t, f in irqs if f == 0]
        assert [b - a for a, b in zip(first, first[1:], strict=False)] == [mod.PERIOD] * (len(first) - 1)


def test_pio_words_are_small_ints(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    for share in range(0, 10001, 7):
        assert 0 <= mod.word_for_share(share) < 1 << 30


def test_state_machine_set_up(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    (sm,) = hw.state_machines
    board = boards.load("rp2040")
    assert sm.freq == mod.SM_HZ
    assert sm.out_base.id == board["pins"]["cp_pwm"]
    assert sm.active_state == 1
    assert sm.fifo == [mod.word_for_share(0)]  # starts at F (-12 V)
    (irq,) = hw.pio_irqs
    assert irq.hard is True
    assert hal.duty_steps() == 5000


def test_set_pilot_puts_one_word_per_change(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    (sm,) = hw.state_machines
    hal.set_pilot(m.PILOT_PWM, 500)
    hal.set_pilot(m.PILOT_PWM, 500)  # idempotent: nothing new for the FIFO
    hal.set_pilot(m.PILOT_X1, 0)
    hal.set_pilot(m.PILOT_PWM, 10000)  # 100 % PWM is X1 too
    hal.set_pilot(m.PILOT_F, 0)
    assert sm.fifo[1:] == [mod.word_for_share(500), mod.word_for_share(10000), mod.word_for_share(0)]


def test_edge_irq_fills_the_plateaus(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    board = boards.load("rp2040")
    (irq,) = hw.pio_irqs
    level = [0]
    hw.adc_source[board["pins"]["cp_sense_adc"]] = lambda: level[0]
    for i in range(base.CP_BURST + 2):
        level[0] = (3000 + i) << 4
        irq.fire(0x100)  # flag 0: first phase, high plateau
        level[0] = (200 + i) << 4
        irq.fire(0x200)  # flag 1: low plateau
    high = array("H", [7] * base.CP_BURST)
    low = array("H", [7] * base.CP_BURST)
    hal.sample_cp(high, low)
    assert sorted(high) == [3000 + i for i in range(2, base.CP_BURST + 2)]
    assert sorted(low) == [200 + i for i in range(2, base.CP_BURST + 2)]
    assert hw.irq_disabled == 0  # IRQs back on after the copy


def test_both_flags_at_once_feed_both_plateaus(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    (irq,) = hw.pio_irqs
    hw.adc_source[boards.load("rp2040")["pins"]["cp_sense_adc"]] = lambda: 0xABC0
    for _ in range(base.CP_BURST):
        irq.fire(0x300)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    hal.sample_cp(high, low)
    assert list(high) == [0xABC] * base.CP_BURST
    assert list(low) == [0xABC] * base.CP_BURST


def test_requested_reboot_is_not_a_watchdog_reset(fake_port: Any) -> None:
    hal, hw, mod = make(fake_port)
    hal.reboot()
    assert hw.resets == 1
    # the reboot goes through the watchdog: rp2 reports WDT_RESET, the marker says why
    hw.cause = RESET_CONSTANTS["rp2"]["WDT_RESET"]
    again = mod.Rp2Hal(boards.load("rp2040"))
    assert again.reset_reason() == base.RESET_SOFT
    third = mod.Rp2Hal(boards.load("rp2040"))  # marker consumed: a real expiry now
    assert third.reset_reason() == base.RESET_WATCHDOG
