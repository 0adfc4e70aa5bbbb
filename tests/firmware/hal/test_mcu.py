"""What the three MCU HALs share (firmware/hal/mcu.py), driven through each port.

Every port is built from its real board definition over the fake `machine` (and
`rp2` / `pyb`) of tests/firmware/hal/fakes.py.
"""

from __future__ import annotations

import ast
import copy
import importlib
from array import array
from pathlib import Path
from typing import Any

import pytest

import boards
from firmware.hal import base, mcu
from firmware.link import messages as m
from tests.firmware.hal.fakes import RESET_CONSTANTS, Hardware

pytestmark = pytest.mark.unit

PORTS = {"rp2": ("rp2040", "Rp2Hal"), "esp32": ("esp32s3", "Esp32Hal"), "stm32": ("stm32", "Stm32Hal")}


def build(fake_port: Any, port: str, **changes: Any) -> tuple[Any, Hardware, dict]:
    hw = fake_port(port)
    board_name, cls = PORTS[port]
    board = copy.deepcopy(boards.load(board_name))
    for path, value in changes.items():
        node = board
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    boards.validate(board)
    module = importlib.import_module("firmware.hal." + port)
    return getattr(module, cls)(board), hw, board


# ------------------------------------------------------------ pure helpers


def test_pilot_share_per_mode() -> None:
    assert mcu.pilot_share(m.PILOT_PWM, 500) == 500  # 5 %: digital communication
    assert mcu.pilot_share(m.PILOT_PWM, 5333) == 5333
    assert mcu.pilot_share(m.PILOT_PWM, 10000) == 10000
    assert mcu.pilot_share(m.PILOT_PWM, 12000) == 10000
    assert mcu.pilot_share(m.PILOT_PWM, -5) == 0
    assert mcu.pilot_share(m.PILOT_X1, 0) == 10000  # +12 V whatever the duty
    assert mcu.pilot_share(m.PILOT_F, 10000) == 0  # -12 V
    assert mcu.pilot_share(99, 5000) == 0  # unknown mode: the safe -12 V


def test_duty_u16_conversion() -> None:
    assert mcu.duty_u16(0) == 0
    assert mcu.duty_u16(1) == 6  # 0.01 %
    assert mcu.duty_u16(500) == 3276  # 5 %
    assert mcu.duty_u16(5000) == 32767
    assert mcu.duty_u16(10000) == 65535  # the value every port treats as constant high


@pytest.mark.parametrize("port", sorted(RESET_CONSTANTS))
def test_reset_kind_maps_each_ports_constants(port: str) -> None:
    consts = RESET_CONSTANTS[port]
    fake = type("machine", (), consts)
    assert mcu.reset_kind(fake, consts["PWRON_RESET"]) == base.RESET_POWER_ON
    assert mcu.reset_kind(fake, consts["WDT_RESET"]) == base.RESET_WATCHDOG
    if "SOFT_RESET" in consts:
        assert mcu.reset_kind(fake, consts["SOFT_RESET"]) == base.RESET_SOFT
    if "HARD_RESET" in consts:
        assert mcu.reset_kind(fake, consts["HARD_RESET"]) == base.RESET_OTHER
    assert mcu.reset_kind(fake, 77) == base.RESET_OTHER


def test_plateau_ring_wraps_and_scales() -> None:
    fake = type("machine", (), {"disable_irq": staticmethod(lambda: 1),
                                "enable_irq": staticmethod(lambda s: None)})
    ring = mcu.PlateauRing(fake, 4, lambda: 0)
    for v in range(base.CP_BURST + 3):
        ring.put_high(v << 4)
        ring.put_low((100 + v) << 4)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    ring.copy(high, low)
    assert sorted(high) == list(range(3, base.CP_BURST + 3))
    assert sorted(low) == list(range(103, 100 + base.CP_BURST + 3))


# ------------------------------------------------------------ through each port


@pytest.mark.parametrize("port", sorted(PORTS))
def test_inputs_read_with_fail_safe_polarity(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    pins = board["pins"]
    for role in ("contactor_feedback", "rcd_fault", "estop"):
        assert hw.pins[pins[role]].pull == hw.pins[pins[role]].PULL_UP, role
    # pulled up, nothing connected: aux contact open, RCD and e-stop read unsafe
    assert hal.contactor_feedback() is False
    assert hal.rcd_fault() is True
    assert hal.estop() is True
    hw.pins[pins["contactor_feedback"]].level = 0
    hw.pins[pins["rcd_fault"]].level = 0
    hw.pins[pins["estop"]].level = 0
    assert hal.contactor_feedback() is True
    assert hal.rcd_fault() is False
    assert hal.estop() is False


@pytest.mark.parametrize("port", sorted(PORTS))
def test_optional_inputs_absent(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port, pins__rcd_fault=None, pins__estop=None, pins__rcd_test=None)
    assert hal.rcd_fault() is False
    assert hal.estop() is False
    assert hal.manual_override() is False  # none of the boards wires an override switch
    hal.rcd_test(True)  # no pin: nothing to drive, no error


@pytest.mark.parametrize("port", sorted(PORTS))
def test_manual_override_input_reads_fail_safe(fake_port: Any, port: str) -> None:
    pin = boards.load(PORTS[port][0])["pins"]["estop"]  # a known input pin, lent to the switch
    hal, hw, board = build(fake_port, port, pins__estop=None, pins__manual_override=pin)
    assert hw.pins[pin].pull == hw.pins[pin].PULL_UP
    assert hal.manual_override() is True  # pulled up, wire off: overridden
    hw.pins[pin].level = 0
    assert hal.manual_override() is False


@pytest.mark.parametrize("port", sorted(PORTS))
def test_rcd_test_output(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    pin = hw.pins[board["pins"]["rcd_test"]]
    assert pin.level == 0
    hal.rcd_test(True)
    assert pin.level == 1
    hal.rcd_test(False)
    assert pin.level == 0


@pytest.mark.parametrize("port", sorted(PORTS))
def test_contactor_without_hold_is_a_plain_output(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port, contactor__hold_pct=0)
    drive = board["pins"]["contactor_drive"]
    assert drive not in hw.pwms
    assert hw.pins[drive].level == 0  # released from the start
    hal.set_contactor(True)
    assert hw.pins[drive].level == 1
    hal.set_contactor(False)
    assert hw.pins[drive].level == 0


@pytest.mark.parametrize("port", sorted(PORTS))
def test_contactor_hold_pwm_pulls_in_then_holds(fake_port: Any, port: str, monkeypatch: Any) -> None:
    now = [1000]
    monkeypatch.setattr(mcu, "ticks_ms", lambda: now[0])
    hal, hw, board = build(fake_port, port, contactor__hold_pct=40)
    pwm = hw.pwms[board["pins"]["contactor_drive"]]
    assert pwm.freq_hz == mcu.HOLD_HZ
    assert pwm.duty == 0
    hal.set_contactor(True)
    assert pwm.duty == 65535  # pull-in at full voltage
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    now[0] += mcu.PULL_IN_MS - 1
    hal.sample_cp(high, low)
    assert pwm.duty == 65535
    now[0] += 1
    hal.sample_cp(high, low)
    assert pwm.duty == 40 * 65535 // 100  # hold
    hal.set_contactor(True)  # repeated: stays on hold, no second pull-in
    assert pwm.duty == 40 * 65535 // 100
    hal.set_contactor(False)
    assert pwm.duty == 0
    now[0] += 1000
    hal.sample_cp(high, low)
    assert pwm.duty == 0  # an open coil never drops to hold


def test_esp32_board_uses_the_hold_pwm(fake_port: Any) -> None:
    hal, hw, board = build(fake_port, "esp32")
    assert board["contactor"]["hold_pct"] == 50
    assert hw.pwms[board["pins"]["contactor_drive"]].freq_hz == mcu.HOLD_HZ


@pytest.mark.parametrize("port", sorted(PORTS))
def test_ntc_counts_scaled_to_adc_bits(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    pins = board["pins"]
    hw.adc_source[pins["ntc0_adc"]] = lambda: 0xFFF0
    n = board["ntc"]["channels"]  # the Pico has one ADC input left for an NTC
    if n == 2:
        hw.adc_source[pins["ntc1_adc"]] = lambda: 0x8000
    assert board["adc_bits"] == 12
    assert hal.ntc_counts(0) == 0xFFF
    if n == 2:
        assert hal.ntc_counts(1) == 0x800
    with pytest.raises(IndexError):
        hal.ntc_counts(n)


@pytest.mark.parametrize("port", sorted(PORTS))
def test_ntc_reads_keep_the_cp_isr_out(fake_port: Any, port: str) -> None:
    """rp2 and stm32 read the CP ADC in a hard IRQ; an NTC read must not be split."""
    hal, hw, board = build(fake_port, port)
    hal.ntc_counts(0)
    adc = hw.adcs[board["pins"]["ntc0_adc"]]
    assert adc.irqs_were_off is (port != "esp32")
    assert hw.irq_disabled == 0


@pytest.mark.parametrize("port", sorted(PORTS))
def test_ntc_counts_at_ten_bits(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port, adc_bits=10)
    hw.adc_source[board["pins"]["ntc0_adc"]] = lambda: 0xFFFF
    assert hal.ntc_counts(0) == 1023


@pytest.mark.parametrize("port", sorted(PORTS))
def test_wdt_created_with_board_timeout_and_fed(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port, wdt_ms=3000)
    assert [w.timeout for w in hw.wdts] == [3000]
    hal.feed_wdt()
    hal.feed_wdt()
    assert hw.wdts[0].feeds == 2


@pytest.mark.parametrize("port", sorted(PORTS))
def test_wdt_starts_after_the_outputs_are_safe(fake_port: Any, port: str) -> None:
    hw = fake_port(port)
    seen: list[dict] = []
    wdt_cls = importlib.import_module("machine").WDT
    orig = wdt_cls.__init__

    def spy(self: Any, *a: Any, **kw: Any) -> None:
        seen.append({pid: p.level for pid, p in hw.pins.items()})
        orig(self, *a, **kw)

    wdt_cls.__init__ = spy
    board_name, cls = PORTS[port]
    board = boards.load(board_name)
    getattr(importlib.import_module("firmware.hal." + port), cls)(board)
    assert len(seen) == 1
    pins = board["pins"]
    drive = pins["contactor_drive"]
    assert drive in hw.pwms or seen[0][drive] == 0
    assert seen[0][pins["rcd_test"]] == 0


@pytest.mark.parametrize("port", sorted(PORTS))
def test_reset_reason_and_reboot(fake_port: Any, port: str) -> None:
    hw = fake_port(port)
    hw.cause = RESET_CONSTANTS[port]["WDT_RESET"]
    board_name, cls = PORTS[port]
    hal = getattr(importlib.import_module("firmware.hal." + port), cls)(boards.load(board_name))
    assert hal.reset_reason() == base.RESET_WATCHDOG
    hal.reboot()
    assert hw.resets == 1


@pytest.mark.parametrize("port", sorted(PORTS))
def test_power_on_reset(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    assert hal.reset_reason() == base.RESET_POWER_ON


@pytest.mark.parametrize("port", sorted(PORTS))
def test_current_is_not_measured(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    assert hal.current_ma() == 0


@pytest.mark.parametrize("port", sorted(PORTS))
def test_uart_is_non_blocking(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    (uart,) = hw.uarts
    assert uart.id == board["uart"]["id"]
    assert uart.kw["baudrate"] == board["uart"]["baud"]
    assert uart.kw["timeout"] == 0
    assert hal.uart.read() is None
    uart.rx += b"\x00\x01\x02"
    assert hal.uart.read() == b"\x00\x01\x02"
    assert hal.uart.read() is None
    hal.uart.write(b"abc")
    assert bytes(uart.tx) == b"abc"
    uart.room = 2
    hal.uart.write(b"defg")
    assert hal.uart.tx_dropped == 2
    uart.room = 0
    hal.uart.write(b"h")
    assert hal.uart.tx_dropped == 3


@pytest.mark.parametrize("port", sorted(PORTS))
def test_every_contract_method_is_there(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    for name in ("sample_cp", "set_pilot", "duty_steps", "set_contactor", "contactor_feedback",
                 "rcd_fault", "rcd_test", "estop", "ntc_counts", "current_ma", "feed_wdt",
                 "reset_reason", "reboot"):
        assert callable(getattr(hal, name)), name
        assert name in base.__doc__, name


@pytest.mark.parametrize("port", sorted(PORTS))
def test_make_hal_picks_the_port(fake_port: Any, port: str) -> None:
    fake_port(port)
    from firmware.main import make_hal

    board_name, cls = PORTS[port]
    assert type(make_hal(boards.load(board_name))).__name__ == cls


def test_make_hal_unknown_port() -> None:
    from firmware.main import make_hal

    with pytest.raises(NotImplementedError, match="'zephyr'"):
        make_hal({"port": "zephyr"})


def test_only_the_port_hals_import_hardware_modules() -> None:
    root = Path(__file__).resolve().parents[3]
    hardware = {"machine", "rp2", "esp32", "pyb"}
    allowed = {"firmware/hal/rp2.py", "firmware/hal/esp32.py", "firmware/hal/stm32.py"}
    found = set()
    for path in (root / "firmware").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            if hardware & set(names):
                found.add(str(path.relative_to(root)))
    assert found == allowed


def drive_cp(hal: Any, hw: Hardware, board: dict, high_mv: int, low_mv: int) -> None:
    """Let the port sample a pilot whose plateaus are `high_mv` / `low_mv` for one burst."""
    cal = board["cp_cal"]
    shift = 16 - board["adc_bits"]
    hi_u16 = base.mv_to_counts(high_mv, cal) << shift
    lo_u16 = base.mv_to_counts(low_mv, cal) << shift
    pin = board["pins"]["cp_sense_adc"]
    if hw.port == "rp2":
        (irq,) = hw.pio_irqs
        for _ in range(base.CP_BURST):
            hw.adc_source[pin] = lambda: hi_u16
            irq.fire(0x100)
            hw.adc_source[pin] = lambda: lo_u16
            irq.fire(0x200)
    elif hw.port == "stm32":
        (tim,) = [t for t in hw.timers if any(c.mode == t.PWM for c in t.channels.values())]
        width = next(c for c in tim.channels.values() if c.mode == tim.PWM)
        hw.adc_source[pin] = lambda: hi_u16 if tim.count < width.cc else lo_u16
        tim.run(base.CP_BURST)
    else:
        clock = hw.clock  # type: ignore[attr-defined]
        hw.adc_source[pin] = lambda: hi_u16 if clock.t % 1000 < 300 else lo_u16


@pytest.mark.parametrize("port", sorted(PORTS))
@pytest.mark.parametrize(
    ("high_mv", "state"), [(12000, m.CP_A), (9000, m.CP_B), (6000, m.CP_C), (3000, m.CP_D)]
)
def test_counts_classify_through_the_boards_cp_cal(
    fake_port: Any, port: str, high_mv: int, state: int
) -> None:
    from firmware.app import pilot

    hal, hw, board = build(fake_port, port)
    hal.set_pilot(m.PILOT_PWM, 3000)
    drive_cp(hal, hw, board, high_mv, -12000)
    high = array("H", bytes(2 * base.CP_BURST))
    low = array("H", bytes(2 * base.CP_BURST))
    hal.sample_cp(high, low)
    assert len(set(high)) == 1 and len(set(low)) == 1  # the burst agrees with itself
    high_at = base.counts_to_mv(high[0], board["cp_cal"])
    low_at = base.counts_to_mv(low[0], board["cp_cal"])
    assert pilot.classify(high_at, low_at) == state
    assert low_at <= pilot.DIODE_LOW_MAX_MV


class _TxUart:
    """A machine.UART whose TX buffer empties after `busy` polls of txdone() (None:
    never, a stuck UART); `has` limits it to the methods a port has."""

    def __init__(self, busy: int | None, has: tuple[str, ...] = ("txdone",)) -> None:
        self.busy = busy
        self.polls = 0
        self.flushed = 0
        if "txdone" not in has:
            self.txdone = None  # type: ignore[assignment]
        if "flush" not in has:
            self.flush = None  # type: ignore[assignment]

    def any(self) -> int:
        return 0

    def read(self) -> None:
        return None

    def write(self, data: bytes) -> int:
        return len(data)

    def txdone(self) -> bool:
        self.polls += 1
        return self.busy is not None and self.polls > self.busy

    def flush(self) -> None:
        self.flushed += 1


def test_drain_waits_until_the_tx_buffer_has_gone_out() -> None:
    uart = _TxUart(busy=3)
    mcu.UartLink(uart).drain(1000)
    assert uart.polls == 4  # returned at the first txdone() that said so, not before


def test_drain_of_a_stuck_uart_gives_up() -> None:
    uart = _TxUart(busy=None)
    mcu.UartLink(uart).drain(3)  # returns: a stuck UART must not stop the reboot
    assert uart.polls >= 2


def test_drain_falls_back_to_flush_or_nothing() -> None:
    uart = _TxUart(busy=None, has=("flush",))
    mcu.UartLink(uart).drain(1000)
    assert uart.flushed == 1 and uart.polls == 0
    mcu.UartLink(_TxUart(busy=None, has=())).drain(1000)  # neither: returns at once
