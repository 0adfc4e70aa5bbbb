"""Grid sensing on the port HALs: timer-paced ADC samples into the GridSync ring, and
the zero-cross pin's edge timestamps, over the fake machine/rp2/pyb modules.

The fake timers do not run by themselves: the test fires the callback, with the fake
ADC returning a synthetic sine indexed by the sample number, so the ring's contents
are known exactly.
"""

from __future__ import annotations

import copy
import importlib
import math
from typing import Any

import pytest

import boards
from firmware.app.gridsync import OVERRUN, from_config
from firmware.hal import gridin
from tests.firmware.hal.fakes import Hardware

pytestmark = pytest.mark.unit

PORTS = {
    "rp2": ("rp2040", "Rp2Hal"),
    "esp32": ("esp32s3", "Esp32Hal"),
    "stm32": ("stm32", "Stm32Hal"),
}


class Sine:
    """A 50 Hz sine as the ADC sees it, one sample per read, in read_u16 counts."""

    def __init__(self, fs: int, mid: int = 2048, peak: int = 1600) -> None:
        self.fs = fs
        self.mid = mid
        self.peak = peak
        self.n = 0

    def counts(self, n: int) -> int:
        """12-bit value of sample n."""
        return self.mid + round(self.peak * math.sin(2 * math.pi * 50 * n / self.fs))

    def __call__(self) -> int:
        v = self.counts(self.n) << 4
        self.n += 1
        return v


def build(fake_port: Any, port: str, **grid: Any) -> tuple[Any, Hardware, dict]:
    hw = fake_port(port)
    board_name, cls = PORTS[port]
    board = copy.deepcopy(boards.load(board_name))
    board["grid"].update(grid)
    boards.validate(board)
    module = importlib.import_module("firmware.hal." + port)
    return getattr(module, cls)(board), hw, board


def capture_channel(hw: Hardware) -> Any:
    """stm32: the input-capture channel of the zero-cross comparator."""
    (ch,) = [c for t in hw.timers for c in t.channels.values() if c.mode == t.IC]
    return ch


def fire_edge(hw: Hardware, board: dict, at_us: int, irq_us: int | None = None) -> None:
    """A comparator edge at `at_us`, its IRQ at `irq_us` (default: at once)."""
    irq_us = at_us if irq_us is None else irq_us
    if hw.port == "stm32":
        capture_channel(hw).edge(at_us, irq_us)
    else:
        hw.clock.t = irq_us  # type: ignore[attr-defined]
        hw.pins[board["pins"]["grid_zero_cross"]].fire()


def grid_timer(hw: Hardware) -> Any:
    """The object whose fire(n) runs the grid sampling IRQ n times."""
    if hw.port == "stm32":
        (tim,) = [t for t in hw.timers if not t.channels]
        return tim
    (tim,) = hw.machine_timers
    return tim


def attached(fake_port: Any, port: str, **grid: Any) -> tuple[Any, Hardware, dict, Any, Sine]:
    hal, hw, board = build(fake_port, port, **grid)
    sine = Sine(board["grid"]["fs"])
    hw.adc_source[board["pins"]["grid_sense_adc"]] = sine
    gs = from_config(board["grid"])
    assert hal.grid_collect(gs) == 0  # the first call attaches and starts the timer
    return hal, hw, board, gs, sine


# ------------------------------------------------------------ set-up


@pytest.mark.parametrize("port", ["rp2", "esp32", "stm32"])
def test_nothing_runs_before_the_controller_attaches(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    assert hw.machine_timers == []  # no ring to write into yet
    assert all(t.irq_callback is None for t in hw.timers)
    zc = board["pins"].get("grid_zero_cross")
    if zc is not None and port == "rp2":
        assert zc not in hw.pins  # not even configured: an input at reset anyway
    if zc is not None and port == "stm32":  # the capture channel is set up, its IRQ off
        assert capture_channel(hw).cb is None


def test_rp2_timer_is_hard_and_exact_in_microseconds(fake_port: Any) -> None:
    hal, hw, board, gs, sine = attached(fake_port, "rp2")
    (tim,) = hw.machine_timers
    assert tim.kw["hard"] is True
    assert tim.kw["mode"] == tim.PERIODIC
    assert tim.id == -1 and tim.kw["freq"] == board["grid"]["fs"] == 4000
    assert 1000000 % tim.kw["freq"] == 0  # the port's microsecond period is exact


def test_esp32_timer_is_the_boards_at_fs(fake_port: Any) -> None:
    hal, hw, board, gs, sine = attached(fake_port, "esp32")
    (tim,) = hw.machine_timers
    assert tim.id == board["grid"]["timer"] == 0
    assert tim.kw["freq"] == 2000 and tim.kw["mode"] == tim.PERIODIC
    assert hw.adcs[board["pins"]["grid_sense_adc"]].atten == 3  # 11 dB, like every ADC pin


def test_stm32_timer_checked_and_started_on_attach(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "stm32")
    tim = grid_timer(hw)
    assert (tim.id, tim.freq_hz) == (7, 5000)
    assert tim.irq_callback is None
    gs = from_config(board["grid"])
    hal.grid_collect(gs)
    assert tim.irq_callback is not None


def test_stm32_inexact_rate_is_refused(fake_port: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.firmware.hal import fakes

    monkeypatch.setattr(fakes.FakeTimer, "source_hz", 84_000_001)
    with pytest.raises(ValueError, match="grid.fs 5000 is not exact on TIM7"):
        build(fake_port, "stm32")


# ------------------------------------------------------------ samples in the ring


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_each_timer_irq_writes_the_next_sample(fake_port: Any, port: str) -> None:
    hal, hw, board, gs, sine = attached(fake_port, port)
    tim = grid_timer(hw)
    tim.fire(37)
    assert hal.grid_collect(gs) == 37
    assert list(gs.ring[:37]) == [sine.counts(n) for n in range(37)]
    tim.fire(5)
    assert hal.grid_collect(gs) == 5
    assert hal.grid_collect(gs) == 0
    assert list(gs.ring[37:42]) == [sine.counts(n) for n in range(37, 42)]


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_ring_wraps_and_keeps_the_latest(fake_port: Any, port: str) -> None:
    hal, hw, board, gs, sine = attached(fake_port, port)
    size = gs.mask + 1
    tim = grid_timer(hw)
    total = 0
    for block in (size - 3, 10, size // 2):  # the second block crosses the end
        tim.fire(block)
        total += block
        assert hal.grid_collect(gs) == block
    for n in range(total - size, total):
        assert gs.ring[n & gs.mask] == sine.counts(n), n


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_grid_reads_keep_other_irqs_out(fake_port: Any, port: str) -> None:
    """The CP sample IRQ reads the same ADC: a grid read must not be cut in two."""
    hal, hw, board, gs, sine = attached(fake_port, port)
    grid_timer(hw).fire(3)
    assert hw.adcs[board["pins"]["grid_sense_adc"]].irqs_were_off is True
    assert hw.irq_disabled == 0


def test_a_stalled_loop_is_an_overrun_for_the_estimator(fake_port: Any) -> None:
    hal, hw, board, gs, sine = attached(fake_port, "rp2")
    grid_timer(hw).fire(gs.max_block + 50)  # more than a block: the oldest are gone
    n = hal.grid_collect(gs)
    assert n == gs.max_block + 50
    assert gs.process(n) & OVERRUN
    assert gs.st[0] == n & gs.mask  # the estimator reads on where the ISR writes next


def test_count_wraps_at_2_30_without_a_jump(fake_port: Any) -> None:
    hal, hw, board, gs, sine = attached(fake_port, "stm32")
    sampler = hal._grid_adc
    sampler.count[0] = gridin.COUNT_MASK - 2  # as after ~2.5 days at 5 kHz
    sampler._last = gridin.COUNT_MASK - 2
    grid_timer(hw).fire(6)
    assert hal.grid_collect(gs) == 6
    assert sampler.count[0] == 3
    assert gs.ring[3 - 1] == sine.counts(5)  # index = count & mask runs on


def test_estimator_locks_on_the_sampled_sine(fake_port: Any) -> None:
    hal, hw, board, gs, sine = attached(fake_port, "rp2")
    tim = grid_timer(hw)
    for _ in range(60):  # 600 ms in 10 ms ticks
        tim.fire(board["grid"]["fs"] // 100)
        gs.process(hal.grid_collect(gs))
    assert abs(gs.freq_mhz() - 50000) <= 1
    assert 229000 <= gs.rms_mv <= 231000  # 1600 counts peak at 203.293 mV per count


# ------------------------------------------------------------ esp32: slots by the clock


def esp32_sampling(fake_port: Any):
    """The esp32 HAL sampling a 2 kHz-sampled sine on a clock that only moves when told:
    (hal, gs, timer, clock, sine, t0), the sampler attached."""
    hal, hw, board = build(fake_port, "esp32")
    clock = hw.clock  # type: ignore[attr-defined]
    clock.step_us = 0
    sine = Sine(2000)
    hw.adc_source[board["pins"]["grid_sense_adc"]] = sine
    gs = from_config(board["grid"])
    hal.grid_collect(gs)
    return hal, gs, grid_timer(hw), clock, sine, clock.t


def test_esp32_on_time_callbacks_fill_one_slot_each(fake_port: Any) -> None:
    hal, gs, tim, clock, sine, t0 = esp32_sampling(fake_port)
    for k in range(1, 11):  # every 500 us, with +-100 us of scheduling jitter
        clock.t = t0 + 500 * k + (100 if k % 2 else -100)
        tim.fire()
    assert hal.grid_collect(gs) == 10
    assert list(gs.ring[:10]) == [sine.counts(n) for n in range(10)]
    assert hal._grid_adc.held == 0


def test_esp32_late_callback_holds_its_value_over_the_missed_slots(fake_port: Any) -> None:
    hal, gs, tim, clock, sine, t0 = esp32_sampling(fake_port)
    clock.t = t0 + 500
    tim.fire()  # slot 0
    clock.t = t0 + 2000  # three slots late (the callbacks for 1000 and 1500 were dropped)
    tim.fire()
    clock.t = t0 + 2500
    tim.fire()
    assert hal.grid_collect(gs) == 5  # the time base is kept: 5 slots in 2.5 ms
    assert list(gs.ring[:5]) == [sine.counts(0)] + [sine.counts(1)] * 3 + [sine.counts(2)]
    assert hal._grid_adc.held == 2


def test_esp32_stall_longer_than_the_ring_resynchronises(fake_port: Any) -> None:
    hal, gs, tim, clock, _, _ = esp32_sampling(fake_port)
    clock.t += 3_000_000  # a 3 s stall: 6000 slots due, the ring holds 1024
    tim.fire()
    n = hal.grid_collect(gs)
    assert n == gs.mask + 1
    assert gs.process(n) & OVERRUN
    clock.t += 500
    tim.fire()
    assert hal.grid_collect(gs) == 1  # on the clock again


# ------------------------------------------------------------ zero-cross pin


class EdgeOwner:
    """Stands for an EdgeSync: what the stamper needs is its ring and mask."""

    def __init__(self, bits: int = 4) -> None:
        from array import array

        self.ring = array("i", [0] * (1 << bits))
        self.mask = (1 << bits) - 1


def test_zero_cross_pin_irq_is_hard_and_rising(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "rp2")
    es = EdgeOwner()
    assert hal.grid_edges(es) == 0
    pin = hw.pins[board["pins"]["grid_zero_cross"]]
    assert pin.trigger == pin.IRQ_RISING and pin.hard is True
    assert pin.mode == pin.IN


def test_stm32_zero_cross_is_a_1mhz_input_capture_on_its_own_timer(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "stm32")
    ch = capture_channel(hw)
    assert (ch.timer.id, ch.ch, ch.pin.id) == (8, 2, "PC7")
    assert ch.polarity == ch.timer.RISING
    assert ch.timer.source_freq() // (ch.timer.prescaler + 1) == 1_000_000
    assert ch.timer.period_reg == 0xFFFF
    assert ch.cb is None  # enabled on the first grid_edges
    hal.grid_edges(EdgeOwner())
    assert ch.cb is not None
    assert {t.id for t in hw.timers if t is not ch.timer}.isdisjoint({8})


def test_stm32_edge_time_is_the_capture_not_the_late_irq(fake_port: Any) -> None:
    # the capture IRQ shares the timers' priority: it may run after a CP or grid
    # callback; the stamp must still be the edge's (a pin IRQ stamped its own run time)
    hal, hw, board = build(fake_port, "stm32")
    hw.clock.step_us = 0  # type: ignore[attr-defined]
    es = EdgeOwner(bits=3)
    hal.grid_edges(es)
    for k, late in enumerate((0, 37, 250, 4)):
        fire_edge(hw, board, 1_000_000 + 20000 * k, 1_000_000 + 20000 * k + late)
    assert hal.grid_edges(es) == 4
    assert [es.ring[k] for k in range(4)] == [1_000_000 + 20000 * k for k in range(4)]
    fire_edge(hw, board, (1 << 30) + 60000 - 3, (1 << 30) + 60000 + 5)  # 16-bit and 2**30 wraps
    assert hal.grid_edges(es) == 1
    assert es.ring[4] == 60000 - 3


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_edges_are_timestamped_in_order_with_a_hold_off(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    clock = hw.clock  # type: ignore[attr-defined]
    clock.step_us = 0
    es = EdgeOwner(bits=3)
    hal.grid_edges(es)
    times = []
    for k in range(11):  # 50 Hz, wrapping the 8-entry ring
        t = 1_000_000 + 20000 * k
        times.append(t)
        fire_edge(hw, board, t)
        fire_edge(hw, board, t + 40)  # comparator chatter right after the edge: dropped
    assert hal.grid_edges(es) == 11
    assert [es.ring[k & es.mask] for k in range(3, 11)] == times[3:]
    assert hal._grid_edge.dropped[0] == 11
    clock.t = 1_234_567
    assert hal.grid_now_us() == 1_234_567


def test_edge_timestamps_wrap_with_the_us_clock(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "rp2")
    clock = hw.clock  # type: ignore[attr-defined]
    clock.step_us = 0
    es = EdgeOwner()
    hal.grid_edges(es)
    pin = hw.pins[board["pins"]["grid_zero_cross"]]
    clock.t = (1 << 30) - 5000
    pin.fire()
    clock.t = (1 << 30) + 15000  # past the wrap: stored modulo 2**30
    pin.fire()
    assert hal.grid_edges(es) == 2
    assert es.ring[0] == (1 << 30) - 5000 and es.ring[1] == 15000
    assert hal.grid_now_us() == 15000


def test_esp32s3_has_no_zero_cross_pin() -> None:
    assert boards.load("esp32s3")["pins"].get("grid_zero_cross") is None


# ------------------------------------------------------------ the controller on a port


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_controller_measures_the_grid_through_the_port(fake_port: Any, port: str) -> None:
    """ADC timer and comparator IRQ as the hardware would fire them, 10 ms per tick:
    the controller measures 50 Hz from the edges, the voltage from the ADC, and still
    refuses export until IEEE 1547's 300 s enter-service delay has passed."""
    from firmware import main
    from firmware.app import gridfunc, interlocks
    from firmware.app.controller import Controller
    from firmware.link import messages as m

    hw = fake_port(port)
    board = boards.load(PORTS[port][0])
    hal = main.make_hal(board)
    pins = board["pins"]
    hw.pins[pins["rcd_fault"]].level = 0
    hw.pins[pins["estop"]].level = 0
    for ch in ("ntc0_adc", "ntc1_adc"):
        hw.adc_source[pins[ch]] = lambda: 2048 << 4
    fs = board["grid"]["fs"]
    hw.adc_source[pins["grid_sense_adc"]] = Sine(fs)
    clock = hw.clock  # type: ignore[attr-defined]
    clock.step_us = 0
    ctrl = Controller(hal, board, 0)
    ctrl.set_pilot(m.PILOT_PWM, 2666)
    ctrl.set_lease(1, 1, 160, 600000, 0)
    next_edge = 20000
    for t in range(10, 3000, 10):
        if t > 10:  # the first tick attaches the samplers
            grid_timer(hw).fire(fs // 100)
            while next_edge <= t * 1000:
                fire_edge(hw, board, next_edge)
                next_edge += 20000
        clock.t = t * 1000
        ctrl.host_alive(t)
        ctrl.tick(t)
    assert ctrl.es is not None
    assert ctrl.grid_f_mhz == 50000 and ctrl.es.flags & 1
    assert 229000 <= ctrl.gs.rms_mv <= 231000
    assert ctrl.refused & interlocks.GRID
    assert gridfunc.refused_names(ctrl.grid_refused) == ["grid-tripped"]  # not yet in service
    assert ctrl.guard.enter_delay_ms == 300000 and ctrl.guard.enter_since is not None
