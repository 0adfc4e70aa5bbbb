"""The DC charger hardware on each microcontroller port (firmware/hal/mcudc.py), over the
fake machine modules: outputs start low and follow the bits, inputs read with the
fail-safe polarity, dc_link_v through the board's divider with IRQs off where the CP
ADC is read in an IRQ, and a board without a `dc` section has none of it."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.link import dcmessages as dm
from tests.firmware.hal.test_mcu import PORTS, build

pytestmark = pytest.mark.unit

# free pins on each carrier; the DC link's ADC takes the grid sense input (no grid)
DC_PINS = {
    "rp2": dict(zip(("dc_plus_drive", "dc_minus_drive", "dc_precharge_drive", "dc_plus_aux",
                     "dc_minus_aux", "imd_alarm", "power_stage_enable"), range(9, 16), strict=True),
                dc_link_adc=28),
    "esp32": dict(zip(("dc_plus_drive", "dc_minus_drive", "dc_precharge_drive", "dc_plus_aux",
                       "dc_minus_aux", "imd_alarm", "power_stage_enable"),
                      (11, 12, 13, 14, 15, 16, 21), strict=True),
                  dc_link_adc=3),
    "stm32": dict(zip(("dc_plus_drive", "dc_minus_drive", "dc_precharge_drive", "dc_plus_aux",
                       "dc_minus_aux", "imd_alarm", "power_stage_enable"),
                      ("PB5", "PB6", "PB7", "PB8", "PB9", "PB12", "PB13"), strict=True),
                  dc_link_adc="PC0"),
}
DC = {"precharge_relay": True, "precharge_ms": 5000, "precharge_tol_dv": 200,
      "weld_check_ms": 1000, "safe_dv": 600, "isolation_ms": 2000, "rated_dv": 10000,
      # 1000 V at the connector = 1.0 V at the pin = 1241 counts (3.3 V, 12 bits)
      "link_cal": (10000, 1241, 0)}


def _dc_hal(fake_port: Any, port: str) -> tuple[Any, Any, dict]:
    pins = dict(__import__("boards").load(PORTS[port][0])["pins"])
    pins.update(grid_sense_adc=None, grid_zero_cross=None, **DC_PINS[port])
    return build(fake_port, port, pins=pins, grid=None, dc=dict(DC))


@pytest.mark.parametrize("port", sorted(PORTS))
def test_dc_outputs_start_low_and_follow(fake_port: Any, port: str) -> None:
    hal, hw, board = _dc_hal(fake_port, port)
    p = board["pins"]
    roles = ("dc_plus_drive", "dc_minus_drive", "dc_precharge_drive", "power_stage_enable")
    assert all(hw.pins[p[r]].level == 0 for r in roles)
    hal.dc_contactors(dm.DC_MINUS | dm.DC_PRECHARGE)
    assert [hw.pins[p[r]].level for r in roles[:3]] == [0, 1, 1]
    hal.dc_contactors(dm.DC_PLUS | dm.DC_MINUS)
    assert [hw.pins[p[r]].level for r in roles[:3]] == [1, 1, 0]
    hal.power_stage(True, 3600)
    assert hw.pins[p["power_stage_enable"]].level == 1
    hal.power_stage(False, 0)
    hal.dc_contactors(0)
    assert all(hw.pins[p[r]].level == 0 for r in roles)


@pytest.mark.parametrize("port", sorted(PORTS))
def test_dc_inputs_read_fail_safe(fake_port: Any, port: str) -> None:
    hal, hw, board = _dc_hal(fake_port, port)
    p = board["pins"]
    for role in ("dc_plus_aux", "dc_minus_aux", "imd_alarm"):
        assert hw.pins[p[role]].pull == hw.pins[p[role]].PULL_UP, role
    # nothing connected: both aux contacts read open, the IMD reads alarming
    assert hal.dc_aux() == 0 and hal.imd_alarm() is True and hal.imd_kohm() == -1
    hw.pins[p["dc_minus_aux"]].level = 0
    hw.pins[p["imd_alarm"]].level = 0
    assert hal.dc_aux() == dm.DC_MINUS_AUX and hal.imd_alarm() is False


@pytest.mark.parametrize("port", sorted(PORTS))
def test_dc_link_voltage_through_the_divider(fake_port: Any, port: str) -> None:
    hal, hw, board = _dc_hal(fake_port, port)
    pin = board["pins"]["dc_link_adc"]
    hw.adc_source[pin] = lambda: 1241 * 16 * 365 // 1000  # 365 V: 1.095 V at the pin (u16)
    assert abs(hal.dc_link_dv() - 3650) <= 10
    adc = hw.adcs[pin]
    assert adc.irqs_were_off == (port in ("rp2", "stm32"))  # the CP ADC reads in an IRQ there


@pytest.mark.parametrize("port", sorted(PORTS))
def test_an_ac_board_has_no_dc_methods(fake_port: Any, port: str) -> None:
    hal, hw, board = build(fake_port, port)
    assert not hasattr(hal, "dc_contactors") and not hasattr(hal, "power_stage")


def test_a_hardware_dc_board_needs_its_divider() -> None:
    import boards

    b = boards.load("rp2040")
    pins = dict(b["pins"], grid_sense_adc=None, grid_zero_cross=None, **DC_PINS["rp2"])
    dc = dict(DC)
    del dc["link_cal"]
    with pytest.raises(boards.BoardError, match="'dc.link_cal' must be"):
        boards.validate(dict(b, pins=pins, grid=None, dc=dc))
