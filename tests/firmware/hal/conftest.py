"""Fixture `fake_port`: fake hardware modules in sys.modules for one test.

The HAL modules are imported afresh inside the test (so they bind to the fakes) and
dropped again afterwards, together with the fakes, so no other test sees either.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest

import firmware.hal
from tests.firmware.hal.fakes import Hardware, make_machine, make_pyb, make_rp2

HAL_MODULES = ("firmware.hal.rp2", "firmware.hal.esp32", "firmware.hal.stm32")
FAKE_MODULES = ("machine", "rp2", "pyb")


class FakeClock:
    """time.ticks_us for the esp32 burst: `step_us` per call."""

    def __init__(self, step_us: int = 10) -> None:
        self.t = 0
        self.step_us = step_us

    def __call__(self) -> int:
        self.t += self.step_us
        return self.t


@pytest.fixture
def fake_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Hardware]]:
    def install(port: str) -> Hardware:
        hw = Hardware(port)
        monkeypatch.setitem(sys.modules, "machine", make_machine(hw))
        if port == "rp2":
            monkeypatch.setitem(sys.modules, "rp2", make_rp2(hw))
        if port == "stm32":
            monkeypatch.setitem(sys.modules, "pyb", make_pyb(hw))
        hw.clock = FakeClock()  # type: ignore[attr-defined]
        monkeypatch.setattr(time, "ticks_us", hw.clock, raising=False)  # type: ignore[attr-defined]
        return hw

    for name in HAL_MODULES:
        assert name not in sys.modules, "%s was imported outside the fake_port fixture" % name
    yield install
    for name in HAL_MODULES:
        sys.modules.pop(name, None)
        short = name.rsplit(".", 1)[1]
        if short in vars(firmware.hal):
            delattr(firmware.hal, short)
